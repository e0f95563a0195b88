// Command echo is the conformance workload for clusters: the same echo server the local
// driver runs in-process (internal/echo), answering every request with a JSON report of what
// it received.
//
//	echo [-addr :9080] [-name NAME]   (NAME defaults to $ECHO_NAME, then the host name)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/trafficext/trafficext/internal/echo"
)

func main() {
	addr := flag.String("addr", ":9080", "listen address")
	name := flag.String("name", os.Getenv("ECHO_NAME"), "name reported as server (default: the host name)")
	flag.Parse()
	if *name == "" {
		*name, _ = os.Hostname()
	}
	s, err := echo.Start(*addr, *name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	fmt.Printf("echo %q listening on %s\n", *name, s.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	s.Close()
}
