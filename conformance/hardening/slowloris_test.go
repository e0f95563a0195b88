//go:build conformance

package hardening

import (
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// slowClient opens a connection and trickles a request whose headers never end, one byte every
// 200ms (so that no idle timeout fires); it returns when Envoy closes the connection or at
// until, reporting how long the connection lived and whether Envoy closed it.
func slowClient(addr string, until time.Time) (lived time.Duration, closed bool) {
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, false
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")); err != nil {
		return time.Since(start), true
	}
	buf := make([]byte, 512)
	for time.Now().Before(until) {
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				return time.Since(start), true // EOF or reset: closed by Envoy (after a 408)
			}
		}
		if _, err := c.Write([]byte("a")); err != nil {
			return time.Since(start), true
		}
	}
	return time.Since(start), false
}

// attack runs n slow clients for at most d and returns how many Envoy closed and the longest
// life among those.
func attack(addr string, n int, d time.Duration) (closed int, longest time.Duration) {
	until := time.Now().Add(d)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			lived, ok := slowClient(addr, until)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				closed++
				longest = max(longest, lived)
			}
		})
	}
	wg.Wait()
	return closed, longest
}

// Clients that never finish their headers are closed after --request-headers-timeout while
// normal requests are served; without the timeout they stay open.
func TestSlowloris_ClosedAfterRequestHeadersTimeout(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "mark.yaml"), luaExtension("mark", "x-mark", "served"))
	const n, headersTimeout = 500, 2 * time.Second

	t.Run("timeout 2s", func(t *testing.T) {
		r := startRun(t, freePorts(t), dir, "--request-headers-timeout", headersTimeout.String())
		r.waitHeader(t, "x-mark", "served", 60*time.Second)
		served := make(chan error, 1)
		go func() {
			time.Sleep(500 * time.Millisecond) // while the slow clients hold their connections
			resp, err := get(r.p.listen)
			if err == nil && resp.Header.Get("x-mark") != "served" {
				err = errUnserved
			}
			served <- err
		}()
		closed, longest := attack(r.p.listen, n, headersTimeout+10*time.Second)
		if err := <-served; err != nil {
			t.Errorf("a normal request during the attack: %v", err)
		}
		if closed != n {
			t.Fatalf("Envoy closed %d of %d slow connections within %v", closed, n, headersTimeout+10*time.Second)
		}
		if longest < headersTimeout-500*time.Millisecond {
			t.Errorf("slow connections closed after %v, before the %v timeout: closed for another reason", longest, headersTimeout)
		}
		t.Logf("%d slow connections closed, the last after %v", closed, longest)
	})

	t.Run("timeout off", func(t *testing.T) {
		r := startRun(t, freePorts(t), dir, "--request-headers-timeout", "0")
		r.waitHeader(t, "x-mark", "served", 60*time.Second)
		if closed, _ := attack(r.p.listen, 20, 2*headersTimeout); closed != 0 {
			t.Errorf("without the timeout Envoy closed %d slow connections: the test above proves nothing", closed)
		}
	})
}

var errUnserved = errorString("response without x-mark: served")

type errorString string

func (e errorString) Error() string { return string(e) }
