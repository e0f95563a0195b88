// Command testpki mints the throw-away PKI of a conformance cluster: a CA, the waypoint's
// certificate (tls.crt/tls.key) and the HBONE client's (client.crt/client.key), as PEM files.
//
//	testpki -dir out/kind/pki [-server-name waypoint.apps.svc.cluster.local]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/trafficext/trafficext/conformance/driver/hbone"
)

func main() {
	dir := flag.String("dir", "out/kind/pki", "output directory")
	name := flag.String("server-name", "waypoint.apps.svc.cluster.local", "the waypoint's DNS name")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "testpki:", err)
		os.Exit(1)
	}
	if _, err := hbone.NewPKI(*dir, *name); err != nil {
		fmt.Fprintln(os.Stderr, "testpki:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", *dir)
}
