//go:build conformance

package lua_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	conf "github.com/trafficext/trafficext/conformance/lua"
	"github.com/trafficext/trafficext/internal/envoyproc"
)

// The adversarial script: each path makes one library call that, unbounded, holds its worker
// for ever or allocates GiBs.
const adversarialScript = `
function envoy_on_request(h)
  local p = h:headers():get(":path")
  h:headers():add("x-before", "1")
  local v = h:headers():get("x-subject")
  if p == "/find" then
    v:find("a*a*a*a*a*a*b")
  elseif p == "/gmatch" then
    for m in v:gmatch("(a*)(a*)(a*)(a*)(a*)(a*)b") do end
  elseif p == "/concat" then
    local s = string.rep("x", 16 * 1024 * 1024)
    local t = {}
    for i = 1, 4096 do t[i] = s end
    local r = table.concat(t)
  elseif p == "/gsub" then
    local s = string.rep("x", 1024 * 1024)
    local r = s:gsub("", s)
  end
  h:headers():add("x-after", "1")
end
function envoy_on_response(h)
  h:headers():add("x-resp", "1")
end
`

// Through real Envoy at --concurrency 2: a catastrophic pattern on a 200-byte header is cut
// within the call's bound while other requests are served, and a one-call multi-GiB
// allocation is refused before it happens (the resident size stays within the bound).
var _ = Describe("Adversarial Lua library calls through real Envoy", Label("lua", "bounds"), Ordered, func() {
	var (
		envoy *envoyproc.Process
		port  int
	)
	const statPrefix = "dynamicmodulescustom.trafficext.conf.adversarial."
	const callBound = 20 * time.Millisecond // the engine's default lua.callTimeoutMillis
	const memBound = 64                     // MiB, the engine's default per-call allocation budget
	subject := strings.Repeat("a", 200)

	BeforeAll(func() {
		s := &conf.Script{ID: "adversarial", Source: adversarialScript}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var stop func()
		var err error
		envoy, port, stop, err = conf.StartGateway(ctx, s, 2)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(stop)
	})

	get := func(path string) (string, time.Duration, error) {
		c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
		if err != nil {
			return "", 0, err
		}
		req.Header.Set("x-subject", subject)
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return "", 0, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var rep map[string]any
		_ = json.Unmarshal(b, &rep)
		hdrs, _ := rep["headers"].(map[string]any)
		_, before := hdrs["x-before"]
		_, after := hdrs["x-after"]
		return fmt.Sprintf("%d before=%v after=%v resp=%q", resp.StatusCode, before, after, resp.Header.Get("x-resp")), time.Since(start), nil
	}
	stat := func(name string) int64 {
		v, err := envoy.Stat(statPrefix + name)
		Expect(err).NotTo(HaveOccurred())
		return v
	}
	rss := func() int64 { // MiB
		n, err := envoyproc.RSS(envoy.Pid())
		Expect(err).NotTo(HaveOccurred())
		return n >> 20
	}
	const failedOpen = `200 before=true after=false resp="1"`

	for _, path := range []string{"/find", "/gmatch"} {
		It("cuts a catastrophic pattern ("+path+") within the bound while both workers keep serving", func() {
			errs0, to0 := stat("script_error"), stat("script_timeout")

			// One alone first: its latency is the cut plus the round trip.
			r, alone, err := get(path)
			Expect(err).NotTo(HaveOccurred())
			Expect(r).To(Equal(failedOpen))
			Expect(alone).To(BeNumerically("<", 100*callBound))

			var served, failed atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for i := 0; i < 2; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if r, _, err := get("/ok"); err != nil || r != `200 before=true after=true resp="1"` {
							failed.Add(1)
						} else {
							served.Add(1)
						}
					}
				}()
			}
			time.Sleep(50 * time.Millisecond)

			// More catastrophic requests than workers, at once.
			const n = 4
			results := make([]string, n)
			lats := make([]time.Duration, n)
			var rwg sync.WaitGroup
			for i := 0; i < n; i++ {
				rwg.Add(1)
				go func(i int) {
					defer rwg.Done()
					r, lat, err := get(path)
					if err != nil {
						r = err.Error()
					}
					results[i], lats[i] = r, lat
				}(i)
			}
			rwg.Wait()
			time.Sleep(50 * time.Millisecond)
			close(stop)
			wg.Wait()
			fmt.Fprintf(GinkgoWriter, "%s: alone %v; concurrent latencies %v; %d ordinary requests served meanwhile (%d failed)\n", path, alone, lats, served.Load(), failed.Load())

			for i, r := range results {
				Expect(r).To(Equal(failedOpen))
				// The bound is CPU time of the worker thread (two such calls may queue on one
				// worker; the machine may be loaded): a small multiple of it, where the
				// unbounded call runs for hours.
				Expect(lats[i]).To(BeNumerically("<", 100*callBound))
			}
			Expect(failed.Load()).To(BeZero())
			Expect(served.Load()).To(BeNumerically(">", 0))
			Expect(stat("script_error") - errs0).To(BeEquivalentTo(n + 1))
			Expect(stat("script_timeout") - to0).To(BeEquivalentTo(n + 1))
			Expect(envoy.Alive()).To(BeTrue())
		})
	}

	for _, tc := range []struct {
		path      string
		timeoutOK bool
	}{
		// concat knows its size before it allocates anything: always the memory refusal.
		{"/concat", false},
		// gsub learns its size as it builds: it grows its buffer up to the 16 MiB string cap
		// (a few ms of page faults) and is refused there, or, on a loaded machine, the CPU
		// bound cuts it first; either way nothing past the bound is allocated.
		{"/gsub", true},
	} {
		path := tc.path
		It("refuses a one-call multi-GiB allocation ("+path+") before making it", func() {
			errs0, to0, rss0 := stat("script_error"), stat("script_timeout"), rss()

			// Sample the resident size while the requests run: its peak is what a kill
			// would see.
			var peak atomic.Int64
			peak.Store(rss0)
			done := make(chan struct{})
			var swg sync.WaitGroup
			swg.Add(1)
			go func() {
				defer swg.Done()
				for {
					if r := rss(); r > peak.Load() {
						peak.Store(r)
					}
					select {
					case <-done:
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
			}()
			const n = 3
			for i := 0; i < n; i++ {
				r, lat, err := get(path)
				Expect(err).NotTo(HaveOccurred())
				Expect(r).To(Equal(failedOpen))
				Expect(lat).To(BeNumerically("<", 5*time.Second))
			}
			close(done)
			swg.Wait()
			fmt.Fprintf(GinkgoWriter, "%s: RSS %d MiB before, peak %d MiB, %d MiB after\n", path, rss0, peak.Load(), rss())

			Expect(stat("script_error") - errs0).To(BeEquivalentTo(n))
			if !tc.timeoutOK {
				Expect(stat("script_timeout") - to0).To(BeZero())
			}
			Expect(peak.Load()-rss0).To(BeNumerically("<=", memBound+64), "peak RSS growth in MiB")
			Expect(envoy.Alive()).To(BeTrue())
		})
	}
})
