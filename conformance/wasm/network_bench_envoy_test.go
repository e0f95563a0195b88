//go:build conformance

package wasm_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/internal/envoyproc"
)

// TestEnvoy_NetworkLatency measures the network (L4) filter side by side in one Envoy: a bare
// tcp_proxy, our host and V8 running the Go TCP guest (which logs and counts every event), on
// the TCP echo: the round trip of 1 KiB on one open connection, and a connection's whole life
// (connect, one round trip, half-close, close). It runs only with TRAFFICEXT_NET_BENCH=1 and
// logs medians and p99s; it asserts nothing about timings.
func TestEnvoy_NetworkLatency(t *testing.T) {
	if os.Getenv("TRAFFICEXT_NET_BENCH") == "" {
		t.Skip("set TRAFFICEXT_NET_BENCH=1 to run the network latency benchmark")
	}
	requireEnvoy(t)
	g := wasmtest.Go(t, "tcp")
	up := tcpEcho(t)
	adminPort := freePort(t)
	ports := map[string]int{"bare": freePort(t), "ours": freePort(t), "v8": freePort(t)}
	name := "extensions.istio.io/trafficextension/ns.bench"
	chains := map[string][]any{
		"bare": {tcpProxy("bare")},
		"ours": {ourNetworkFilter(t, name, g, ""), tcpProxy("ours")},
		"v8":   {v8NetworkFilter(name, g, ""), tcpProxy("v8")},
	}
	var listeners []any
	for _, k := range []string{"bare", "ours", "v8"} {
		listeners = append(listeners, map[string]any{"name": k, "address": addr(ports[k]),
			"filter_chains": []any{map[string]any{"filters": chains[k]}}})
	}
	releasePorts()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Guest logs at info would dominate: Envoy runs at warning.
	p, err := envoyproc.Start(ctx, envoyproc.Options{Bootstrap: bootstrap(t, listeners, adminPort, up), AdminPort: adminPort, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	payload := make([]byte, 1024)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	pct := func(d []time.Duration, q float64) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[int(float64(len(d)-1)*q)]
	}
	const rounds, lives = 3000, 300
	for _, k := range []string{"bare", "ours", "v8"} {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[k]))
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(payload))
		var rt []time.Duration
		for i := 0; i < rounds; i++ {
			start := time.Now()
			if _, err := c.Write(payload); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
			rt = append(rt, time.Since(start))
		}
		c.Close()
		var life []time.Duration
		for i := 0; i < lives; i++ {
			start := time.Now()
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[k]))
			if err != nil {
				t.Fatal(err)
			}
			c.Write(payload)
			io.ReadFull(c, buf)
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c)
			c.Close()
			life = append(life, time.Since(start))
		}
		t.Logf("%-4s  1 KiB round trip: median %v p99 %v   connection life: median %v p99 %v",
			k, pct(rt, 0.5).Round(time.Microsecond), pct(rt, 0.99).Round(time.Microsecond),
			pct(life, 0.5).Round(time.Microsecond), pct(life, 0.99).Round(time.Microsecond))
	}
}
