// Command libtrafficext is built with -buildmode=c-shared into libtrafficext.so, the Envoy
// dynamic module of trafficext. Its exported symbols come from filter/dynmod.
package main

import _ "github.com/trafficext/trafficext/filter/dynmod"

func main() {}
