package fetch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
