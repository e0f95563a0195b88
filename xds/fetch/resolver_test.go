package fetch_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/xds/fetch"
	"github.com/trafficext/trafficext/xds/fetch/fetchtest"
	"github.com/trafficext/trafficext/xds/model"
)

// wasmExt decodes a TrafficExtension whose spec.wasm holds the given YAML lines.

func TestResolver_KeepLastGoodAndFailStrategy(t *testing.T) {
	mod := fetchtest.Module("good")
	var up atomic.Bool
	up.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write(mod)
	}))
	defer srv.Close()
	f := fetchtest.NewFetcher(t, "", func(o *fetch.Options) { o.Attempts = 1 })
	r := fetch.NewResolver(f, fetch.ResolverOptions{RetryBase: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed := make(chan struct{}, 16)
	go r.Run(ctx, func() { changed <- struct{}{} })

	good := fetchtest.Extension(t, "istio-system", "auth", "1", "url: "+srv.URL+"/m.wasm\nsha256: \""+sum(mod)+"\"")
	out := r.Prepare([]*model.Extension{good}, nil)
	if len(out.Problems) != 0 || len(out.Serve) != 1 || out.Serve[0] != good {
		t.Fatalf("good: %+v", out)
	}
	path, sha, err := r.Resolve(good)
	if err != nil || sha != sum(mod) || path == "" {
		t.Fatalf("resolve: %s %s %v", path, sha, err)
	}

	// A new version with a wrong sha256: rejected, the previous version keeps serving.
	bad := fetchtest.Extension(t, "istio-system", "auth", "2", "url: "+srv.URL+"/m.wasm\nsha256: \""+strings.Repeat("0", 64)+"\"")
	out = r.Prepare([]*model.Extension{bad}, nil)
	if len(out.Serve) != 1 || out.Serve[0] != good || len(out.Stale) != 1 || len(out.Problems) != 1 ||
		!strings.Contains(out.Problems[0].Error(), "checksum_mismatch") || !strings.Contains(out.Problems[0].Error(), "previous version keeps serving") {
		t.Fatalf("wrong sha256: serve %v stale %v problems %v", out.Serve, out.Stale, out.Problems)
	}

	// A new extension while the server fails: no previous version, so the fail strategy
	// applies (Resolve errors); the background re-fetch brings it once the server is back.
	up.Store(false)
	other := fetchtest.Extension(t, "istio-system", "other", "1", "url: "+srv.URL+"/other.wasm\nfailStrategy: FAIL_OPEN")
	out = r.Prepare([]*model.Extension{good, other}, nil)
	if len(out.Problems) != 1 || !strings.Contains(out.Problems[0].Error(), "istio-system/other") || !strings.Contains(out.Problems[0].Error(), "FAIL_OPEN") {
		t.Fatalf("down: %v", out.Problems)
	}
	if _, _, err := r.Resolve(other); err == nil {
		t.Fatal("other resolved while the server is down")
	}
	up.Store(true)
	deadline := time.After(5 * time.Second)
	for {
		if _, _, err := r.Resolve(other); err == nil {
			break
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("no background re-fetch")
		}
	}
	// The extension going away forgets its last good version.
	r.Prepare(nil, nil)
	if _, _, err := r.Resolve(good); err == nil {
		t.Error("removed extension still resolves")
	}
}

func TestResolver_PullSecretFromSource(t *testing.T) {
	f := fetchtest.NewFetcher(t, "")
	r := fetch.NewResolver(f, fetch.ResolverOptions{SyncWait: time.Second})
	defer r.Close()
	e := fetchtest.Extension(t, "apps", "x", "1", "url: oci://127.0.0.1:1/x:1\nimagePullSecret: creds")
	out := r.Prepare([]*model.Extension{e}, func(ns, name string) ([]byte, bool) { return nil, false })
	if len(out.Problems) != 1 || !strings.Contains(out.Problems[0].Error(), "apps/creds") || !strings.Contains(out.Problems[0].Error(), "pull_secret") {
		t.Fatalf("missing secret: %v", out.Problems)
	}
}

// refusingChecker is a StartChecker double: a root id listed in refuse does not start.
type refusingChecker struct {
	refuse map[string]string
	calls  atomic.Int32
	cured  atomic.Bool // the "slow" root id starts from now on
}

func (c *refusingChecker) CheckStart(_ context.Context, ext *extconfig.Extension) error {
	c.calls.Add(1)
	if why, ok := c.refuse[ext.Wasm.PluginName]; ok {
		if ext.Wasm.PluginName == "slow" {
			if c.cured.Load() {
				return nil
			}
			return timeoutError(why)
		}
		return errors.New(why)
	}
	if ext.Wasm.Path == "" || ext.Wasm.SHA256 == "" {
		return errors.New("no verified module")
	}
	return nil
}

func TestResolver_StartCheck(t *testing.T) {
	mod := fetchtest.Module("good")
	file := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(file, mod, 0o644); err != nil {
		t.Fatal(err)
	}
	checker := &refusingChecker{refuse: map[string]string{"bad": "proxy_on_configure returned false"}}
	r := fetch.NewResolver(fetchtest.NewFetcher(t, ""), fetch.ResolverOptions{StartChecker: checker, RetryBase: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	defer r.Close()
	ext := func(name, rv, root, fail string) *model.Extension {
		return fetchtest.Extension(t, "istio-system", name, rv, "url: file://"+file+"\npluginName: "+root+"\nfailStrategy: "+fail)
	}

	v1 := ext("auth", "1", "good", "FAIL_CLOSE")
	out := r.Prepare([]*model.Extension{v1}, nil)
	if len(out.Problems) != 0 || len(out.Rejected) != 0 || len(out.Serve) != 1 || out.Serve[0] != v1 {
		t.Fatalf("v1: %+v", out)
	}

	// v2 does not start: v1 keeps serving, the problem names resource, field and reason.
	v2 := ext("auth", "2", "bad", "FAIL_CLOSE")
	out = r.Prepare([]*model.Extension{v2}, nil)
	want := "istio-system/auth: spec.wasm.url: module does not start: proxy_on_configure returned false; the previous version keeps serving"
	if len(out.Serve) != 1 || out.Serve[0] != v1 || len(out.Stale) != 1 || len(out.Rejected) != 0 ||
		len(out.Problems) != 1 || !strings.Contains(out.Problems[0].Error(), want) {
		t.Fatalf("v2: serve %v stale %v rejected %v problems %v", out.Serve, out.Stale, out.Rejected, out.Problems)
	}

	// With no earlier version, each fail strategy applies and the resource is rejected.
	for _, fail := range []string{"FAIL_OPEN", "FAIL_CLOSE"} {
		x := ext("new-"+strings.ToLower(fail), "1", "bad", fail)
		out = r.Prepare([]*model.Extension{v2, x}, nil)
		if len(out.Rejected) != 1 || out.Rejected[0] != x.Key || len(out.Problems) != 2 ||
			!strings.Contains(out.Problems[1].Error(), "module does not start: proxy_on_configure returned false; failStrategy "+fail+" applies") {
			t.Fatalf("%s: rejected %v problems %v", fail, out.Rejected, out.Problems)
		}
		if _, _, err := r.Resolve(x); err == nil || fetch.ReasonOf(err) != fetch.ReasonStart {
			t.Fatalf("%s: Resolve = %v, want a %s error", fail, err, fetch.ReasonStart)
		}
	}

	// Not retried in the background: only a new version is checked again.
	calls := checker.calls.Load()
	time.Sleep(100 * time.Millisecond)
	r.Prepare([]*model.Extension{v2}, nil)
	if got := checker.calls.Load(); got != calls {
		t.Fatalf("the start check ran %d more times without a change", got-calls)
	}
	v3 := ext("auth", "3", "good", "FAIL_CLOSE")
	out = r.Prepare([]*model.Extension{v3}, nil)
	if len(out.Problems) != 0 || len(out.Stale) != 0 || out.Serve[0] != v3 {
		t.Fatalf("v3: %+v", out)
	}
	if path, sha, err := r.Resolve(v3); err != nil || path == "" || sha != sum(mod) {
		t.Fatalf("v3 resolves to %q %q %v", path, sha, err)
	}
}

type timeoutError string

func (e timeoutError) Error() string { return string(e) }
func (timeoutError) Timeout() bool   { return true }

// A start cut off by its bound may have met a busy host: it is checked again in the
// background, with backoff, and becomes available when a check passes.
func TestResolver_StartCheckTimeoutIsRetried(t *testing.T) {
	file := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(file, fetchtest.Module("slow"), 0o644); err != nil {
		t.Fatal(err)
	}
	checker := &refusingChecker{refuse: map[string]string{"slow": "proxy_on_configure did not return within the start bound"}}
	r := fetch.NewResolver(fetchtest.NewFetcher(t, ""), fetch.ResolverOptions{StartChecker: checker, RetryBase: 100 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed := make(chan struct{}, 4)
	go r.Run(ctx, func() { changed <- struct{}{} })
	x := fetchtest.Extension(t, "istio-system", "slow", "1", "url: file://"+file+"\npluginName: slow")
	out := r.Prepare([]*model.Extension{x}, nil)
	if len(out.Rejected) != 1 || !strings.Contains(out.Problems[0].Error(), "until a background start check passes") {
		t.Fatalf("rejected %v problems %v", out.Rejected, out.Problems)
	}
	deadline := time.Now().Add(5 * time.Second)
	for checker.calls.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("checked %d times, want retries", checker.calls.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	checker.cured.Store(true) // before the second retry, 100 ms after the first
	for {
		if _, _, err := r.Resolve(x); err == nil {
			break
		}
		select {
		case <-changed:
		case <-time.After(5 * time.Second):
			t.Fatal("no change once the check passed")
		}
	}
}

// A start that always runs past the bound is checked a few times, not forever (each check of
// a loop costs the whole bound of CPU).
func TestResolver_StartCheckTimeoutRetriesAreBounded(t *testing.T) {
	file := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(file, fetchtest.Module("loop"), 0o644); err != nil {
		t.Fatal(err)
	}
	checker := &refusingChecker{refuse: map[string]string{"slow": "proxy_on_vm_start did not return within the start bound"}}
	r := fetch.NewResolver(fetchtest.NewFetcher(t, ""), fetch.ResolverOptions{StartChecker: checker, RetryBase: 5 * time.Millisecond, RetryMax: 5 * time.Millisecond})
	defer r.Close()
	x := fetchtest.Extension(t, "istio-system", "loop", "1", "url: file://"+file+"\npluginName: slow")
	r.Prepare([]*model.Extension{x}, nil)
	time.Sleep(500 * time.Millisecond)
	if got := checker.calls.Load(); got != 4 {
		t.Fatalf("checked %d times, want 1 + 3 retries", got)
	}
	out := r.Prepare([]*model.Extension{x}, nil)
	if len(out.Problems) != 1 || strings.Contains(out.Problems[0].Error(), "until") {
		t.Fatalf("after the retries: %v", out.Problems)
	}
}

// slowChecker blocks until released, as a start check of a module that loops does.
type slowChecker struct{ release chan struct{} }

func (c slowChecker) CheckStart(ctx context.Context, _ *extconfig.Extension) error {
	select {
	case <-c.release:
		return errors.New("proxy_on_vm_start did not return within the start bound")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// A start check still running does not hold up the next change: Prepare waits only for the
// fetches and checks it starts itself.
func TestResolver_PendingStartCheckDoesNotBlockOtherChanges(t *testing.T) {
	file := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(file, fetchtest.Module("loop"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := slowChecker{release: make(chan struct{})}
	r := fetch.NewResolver(fetchtest.NewFetcher(t, ""), fetch.ResolverOptions{StartChecker: c, SyncWait: 300 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed := make(chan struct{}, 4)
	go r.Run(ctx, func() { changed <- struct{}{} })
	loop := fetchtest.Extension(t, "istio-system", "loop", "1", "url: file://"+file+"\nfailStrategy: FAIL_CLOSE")
	out := r.Prepare([]*model.Extension{loop}, nil)
	if len(out.Problems) != 1 || !strings.Contains(out.Problems[0].Error(), "still being fetched") {
		t.Fatalf("first: %v", out.Problems)
	}
	began := time.Now()
	r.Prepare([]*model.Extension{loop}, nil)
	if d := time.Since(began); d > 100*time.Millisecond {
		t.Fatalf("the second Prepare waited %v for the pending check", d)
	}
	close(c.release)
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no change callback after the check finished")
	}
	out = r.Prepare([]*model.Extension{loop}, nil)
	if len(out.Rejected) != 1 || !strings.Contains(out.Problems[0].Error(), "module does not start: proxy_on_vm_start did not return") {
		t.Fatalf("after the check: rejected %v problems %v", out.Rejected, out.Problems)
	}
}
