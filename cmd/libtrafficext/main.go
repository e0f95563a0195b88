// Command libtrafficext is built with -buildmode=c-shared into libtrafficext.so, the Envoy
// dynamic module of trafficext. Its exported symbols come from host/dynmod.
package main

import _ "github.com/trafficext/trafficext/host/dynmod"

func main() {}
