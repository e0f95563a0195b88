//go:build conformance

package lua_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	conf "github.com/trafficext/trafficext/conformance/lua"
	"github.com/trafficext/trafficext/internal/envoyproc"
)

// The runaway script: each path misbehaves in its own way after a first change.
const runawayScript = `
function envoy_on_request(h)
  local p = h:headers():get(":path")
  h:headers():add("x-before", "1")
  if p == "/loop" then
    while true do end
  elseif p == "/recurse" then
    local function f(n) return f(n + 1) + 1 end
    f(1)
  elseif p == "/alloc" then
    local s = string.rep("x", 1e10)
  elseif p == "/table" then
    local t = {}
    for i = 1, 1e9 do t[i] = i end
  elseif p == "/concat" then
    local s = "x"
    while true do s = s .. s end
  end
  h:headers():add("x-after", "1")
end
function envoy_on_response(h)
  h:headers():add("x-resp", "1")
end
`

// Acceptance 3 of the Lua issue: through real Envoy at --concurrency 1, a runaway script fails
// open within the bound, its error stats increment, and the single worker keeps serving other
// requests meanwhile.
var _ = Describe("Runaway Lua scripts through real Envoy", Label("lua", "bounds"), Ordered, func() {
	var (
		envoy *envoyproc.Process
		port  int
	)
	const ext = "extensions.istio.io/trafficextension/conf.runaway"
	const statPrefix = "dynamicmodulescustom.trafficext.conf.runaway."

	BeforeAll(func() {
		s := &conf.Script{ID: "runaway", Source: runawayScript}
		Expect(s.FilterName()).To(Equal(ext))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var stop func()
		var err error
		envoy, port, stop, err = conf.StartGateway(ctx, s, 1)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(stop)
	})

	get := func(path string) (*http.Response, map[string]any, time.Duration, error) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		start := time.Now()
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			return nil, nil, 0, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var rep map[string]any
		_ = json.Unmarshal(b, &rep)
		return resp, rep, time.Since(start), nil
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

	for _, tc := range []struct {
		path    string
		timeout string // all, none, or any (the CPU and the allocation bounds race)
		what    string
	}{
		{"/loop", "all", "infinite loop"},
		{"/recurse", "none", "deep recursion"},
		{"/alloc", "none", "huge string allocation"},
		{"/table", "any", "huge table allocation"},
		{"/concat", "any", "doubling string concatenation"},
	} {
		It(tc.what+" fails open within the bound while the worker keeps serving", func() {
			errs0, to0, rss0 := stat("script_error"), stat("script_timeout"), rss()

			// Other requests on the (only) worker, all along.
			var served, failed atomic.Int64
			var maxLat atomic.Int64
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
						resp, _, lat, err := get("/ok")
						if err != nil || resp.StatusCode != 200 || resp.Header.Get("x-resp") != "1" {
							failed.Add(1)
							continue
						}
						served.Add(1)
						if int64(lat) > maxLat.Load() {
							maxLat.Store(int64(lat))
						}
					}
				}()
			}
			time.Sleep(50 * time.Millisecond)

			// Several runaway requests at once: each call is bounded separately.
			const n = 5
			var rwg sync.WaitGroup
			results := make([]string, n)
			start := time.Now()
			for i := 0; i < n; i++ {
				rwg.Add(1)
				go func(i int) {
					defer rwg.Done()
					resp, rep, lat, err := get(tc.path)
					if err != nil {
						results[i] = err.Error()
						return
					}
					hdrs, _ := rep["headers"].(map[string]any)
					_, before := hdrs["x-before"]
					_, after := hdrs["x-after"]
					results[i] = fmt.Sprintf("%d before=%v after=%v resp=%q in %v", resp.StatusCode, before, after, resp.Header.Get("x-resp"), lat.Round(time.Millisecond))
				}(i)
			}
			rwg.Wait()
			elapsed := time.Since(start)
			time.Sleep(50 * time.Millisecond)
			close(stop)
			wg.Wait()

			fmt.Fprintf(GinkgoWriter, "%s: %d runaway requests in %v; %d other requests served meanwhile (max latency %v, %d failed); RSS %d → %d MiB; results %q\n",
				tc.what, n, elapsed.Round(time.Millisecond), served.Load(), time.Duration(maxLat.Load()).Round(time.Millisecond), failed.Load(), rss0, rss(), results)
			for _, r := range results {
				// Fail-open: the request reaches the upstream with the change made before the
				// error, not the one after; the response hook still runs.
				Expect(r).To(HavePrefix("200 before=true after=false resp=\"1\""))
			}
			Expect(elapsed).To(BeNumerically("<", 5*time.Second))
			Expect(failed.Load()).To(BeZero())
			Expect(served.Load()).To(BeNumerically(">", 0))
			Expect(stat("script_error") - errs0).To(BeEquivalentTo(n))
			switch tc.timeout {
			case "all":
				Expect(stat("script_timeout") - to0).To(BeEquivalentTo(n))
			case "none":
				Expect(stat("script_timeout") - to0).To(BeZero())
			}
			// A call stopped on its allocation budget hands its garbage back to the OS
			// asynchronously (engine/lua: debug.FreeOSMemory off the worker thread), and one
			// instruction (a doubling concatenation) can overshoot the budget by its last step:
			// the resident size must come back under the bound, not stay there.
			Eventually(func() int64 { return rss() - rss0 }).WithTimeout(5*time.Second).WithPolling(50*time.Millisecond).
				Should(BeNumerically("<", 512), "RSS growth in MiB")
			Expect(envoy.Alive()).To(BeTrue())
		})
	}
})
