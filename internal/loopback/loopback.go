// Package loopback hands out free TCP ports on 127.0.0.1 for the processes that tests,
// benchmarks and drivers start (Envoy listeners and admin ports, upstreams, control planes).
package loopback

import (
	"fmt"
	"net"
)

// FreePorts returns n distinct ports that were free on 127.0.0.1 when asked. They are all
// held open until every one is chosen, so the kernel cannot hand the same one out twice; a
// port can still be taken by someone else before the caller binds it.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreePort returns one free port.
func FreePort() (int, error) {
	p, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}
