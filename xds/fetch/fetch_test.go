package fetch_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/trafficext/trafficext/xds/fetch"
	"github.com/trafficext/trafficext/xds/fetch/fetchtest"
)

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func tarOf(t *testing.T, name string, b []byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(b)
	tw.Close()
	return buf.Bytes()
}

func TestHTTP_UnboxAndChecksum(t *testing.T) {
	mod := fetchtest.Module("http")
	bodies := map[string][]byte{
		"/raw.wasm":    mod,
		"/m.wasm.gz":   gz(mod),
		"/m.tar":       tarOf(t, "anything.wasm", mod),
		"/m.tar.gz":    gz(tarOf(t, "x/plugin.wasm", mod)),
		"/not-wasm":    []byte("hello, this is not a module"),
		"/big.wasm":    append(append([]byte{}, mod...), make([]byte, 4096)...),
		"/gzbomb.wasm": gz(append(append([]byte{}, mod...), make([]byte, 1<<20)...)),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()
	f := fetchtest.NewFetcher(t, "", func(o *fetch.Options) { o.MaxModuleBytes = 2048 })
	ctx := context.Background()
	for _, p := range []string{"/raw.wasm", "/m.wasm.gz", "/m.tar", "/m.tar.gz"} {
		m, err := f.Fetch(ctx, fetch.Request{URL: srv.URL + p, SHA256: sum(mod)})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if m.SHA256 != sum(mod) || m.Checksum != sum(mod) || !bytes.Equal(fetchtest.ReadFile(t, m.Path), mod) {
			t.Errorf("%s: module %+v", p, m)
		}
	}
	cases := []struct {
		path, sha string
		reason    fetch.Reason
	}{
		{"/raw.wasm", strings.Repeat("a", 64), fetch.ReasonChecksum},
		{"/not-wasm", "", fetch.ReasonInvalid},
		{"/missing.wasm", "", fetch.ReasonNotFound},
		{"/big.wasm", "", fetch.ReasonTooLarge},
		{"/gzbomb.wasm", "", fetch.ReasonTooLarge},
	}
	for _, c := range cases {
		_, err := f.Fetch(ctx, fetch.Request{URL: srv.URL + c.path, SHA256: c.sha})
		if got := fetch.ReasonOf(err); got != c.reason {
			t.Errorf("%s: reason %q (%v), want %q", c.path, got, err, c.reason)
		} else if !strings.Contains(err.Error(), srv.URL+c.path) {
			t.Errorf("%s: error %q does not name the URL", c.path, err)
		}
	}
	m := f.Metrics()
	if m.Success != 4 || m.Failure != uint64(len(cases)) || m.FailureByReason[fetch.ReasonChecksum] != 1 {
		t.Errorf("metrics = %+v", m)
	}
}

func TestHTTP_RetriesWithBackoff(t *testing.T) {
	mod := fetchtest.Module("retry")
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/flaky.wasm":
			if calls.Add(1) < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.Write(mod)
		case "/501.wasm":
			calls.Add(1)
			w.WriteHeader(http.StatusNotImplemented)
		case "/denied.wasm":
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	defer srv.Close()
	f := fetchtest.NewFetcher(t, "")
	if _, err := f.Fetch(context.Background(), fetch.Request{URL: srv.URL + "/flaky.wasm"}); err != nil || calls.Load() != 3 {
		t.Fatalf("flaky: %v after %d calls", err, calls.Load())
	}
	calls.Store(0)
	if _, err := f.Fetch(context.Background(), fetch.Request{URL: srv.URL + "/501.wasm"}); err == nil || calls.Load() != 1 {
		t.Errorf("501 must not be retried: %v after %d calls", err, calls.Load())
	}
	if _, err := f.Fetch(context.Background(), fetch.Request{URL: srv.URL + "/denied.wasm"}); fetch.ReasonOf(err) != fetch.ReasonAuth {
		t.Errorf("403: %v", err)
	}
	srv.Close()
	_, err := f.Fetch(context.Background(), fetch.Request{URL: srv.URL + "/gone.wasm"})
	if fetch.ReasonOf(err) != fetch.ReasonUnreachable {
		t.Errorf("server down: %v", err)
	}
}

func TestHTTPS_CustomCA(t *testing.T) {
	mod := fetchtest.Module("tls")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(mod) }))
	defer srv.Close()
	if _, err := fetchtest.NewFetcher(t, "", func(o *fetch.Options) { o.Attempts = 1 }).Fetch(context.Background(), fetch.Request{URL: srv.URL + "/m.wasm"}); err == nil {
		t.Fatal("an unknown CA must fail")
	}
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	if _, err := fetchtest.NewFetcher(t, "", func(o *fetch.Options) { o.RootCAs = pool }).Fetch(context.Background(), fetch.Request{URL: srv.URL + "/m.wasm"}); err != nil {
		t.Fatalf("custom CA: %v", err)
	}
	host := strings.TrimPrefix(srv.URL, "https://")
	if _, err := fetchtest.NewFetcher(t, "", func(o *fetch.Options) { o.InsecureRegistries = []string{host} }).Fetch(context.Background(), fetch.Request{URL: srv.URL + "/m.wasm"}); err != nil {
		t.Fatalf("insecure host: %v", err)
	}
}

func TestFile(t *testing.T) {
	mod := fetchtest.Module("file")
	p := filepath.Join(t.TempDir(), "m.wasm")
	os.WriteFile(p, mod, 0o644)
	f := fetchtest.NewFetcher(t, "")
	m, err := f.Fetch(context.Background(), fetch.Request{URL: "file://" + p, SHA256: sum(mod)})
	if err != nil || m.SHA256 != sum(mod) || m.Path == p || !bytes.Equal(fetchtest.ReadFile(t, m.Path), mod) {
		t.Fatalf("file: %+v %v (the module must be copied into the cache)", m, err)
	}
	if _, err := f.Fetch(context.Background(), fetch.Request{URL: "file://" + p, SHA256: strings.Repeat("0", 64)}); fetch.ReasonOf(err) != fetch.ReasonChecksum {
		t.Errorf("wrong sha256: %v", err)
	}
	if _, err := f.Fetch(context.Background(), fetch.Request{URL: "ftp://x/y"}); fetch.ReasonOf(err) != fetch.ReasonURL {
		t.Errorf("ftp: %v", err)
	}
}

// inProcessRegistry is go-containerregistry's registry with a count of blob downloads.
type inProcessRegistry struct {
	*httptest.Server
	host      string
	blobGets  atomic.Int32
	manifests atomic.Int32
}

func newInProcessRegistry(t *testing.T) *inProcessRegistry {
	r := &inProcessRegistry{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
			r.blobGets.Add(1)
		}
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/manifests/") {
			r.manifests.Add(1)
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Close)
	r.host = strings.TrimPrefix(r.URL, "http://")
	return r
}

func TestOCI_LayoutsAndDigest(t *testing.T) {
	reg := newInProcessRegistry(t)
	f := fetchtest.NewFetcher(t, "")
	for _, layout := range fetch.Layouts {
		mod := fetchtest.Module(string(layout))
		digest := fetchtest.Push(t, reg.host+"/m/"+string(layout)+":1", mod, layout)
		url := "oci://" + reg.host + "/m/" + string(layout) + ":1"
		m, err := f.Fetch(context.Background(), fetch.Request{URL: url, SHA256: digest})
		if err != nil {
			t.Fatalf("%s: %v", layout, err)
		}
		if m.Checksum != digest || m.SHA256 != sum(mod) || !bytes.Equal(fetchtest.ReadFile(t, m.Path), mod) {
			t.Errorf("%s: %+v", layout, m)
		}
		// sha256 is the manifest digest, not the module's hash.
		_, err = f.Fetch(context.Background(), fetch.Request{URL: url, SHA256: sum(mod), Resource: "x"})
		if fetch.ReasonOf(err) != fetch.ReasonChecksum || !strings.Contains(err.Error(), reg.host) {
			t.Errorf("%s: module hash as sha256: %v", layout, err)
		}
		// A URL pinned by digest; scheme-less URLs are OCI.
		m2, err := f.Fetch(context.Background(), fetch.Request{URL: reg.host + "/m/" + string(layout) + "@sha256:" + digest})
		if err != nil || m2.SHA256 != m.SHA256 || !m2.CacheHit {
			t.Errorf("%s: by digest: %+v %v", layout, m2, err)
		}
	}
	// An image without plugin.wasm.
	tarNo := tarOf(t, "other.wasm", fetchtest.Module("x"))
	if err := fetch.PushRawLayer(reg.host+"/m/nowasm:1", tarNo); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Fetch(context.Background(), fetch.Request{URL: "oci://" + reg.host + "/m/nowasm:1"}); fetch.ReasonOf(err) != fetch.ReasonLayout {
		t.Errorf("no plugin.wasm: %v", err)
	}
	if _, err := f.Fetch(context.Background(), fetch.Request{URL: "oci://" + reg.host + "/m/absent:1"}); fetch.ReasonOf(err) != fetch.ReasonNotFound {
		t.Errorf("absent: %v", err)
	}
}

func TestOCI_PullPolicy(t *testing.T) {
	reg := newInProcessRegistry(t)
	f := fetchtest.NewFetcher(t, "")
	v1, v2 := fetchtest.Module("0.0.1"), fetchtest.Module("0.0.2")
	ctx := context.Background()
	get := func(tag string, p fetch.PullPolicy, rv string) fetch.Module {
		t.Helper()
		// One repository per policy: the tag memory is per URL, as in Istio.
		m, err := f.Fetch(ctx, fetch.Request{URL: "oci://" + reg.host + "/p/" + strings.ToLower(p.String()) + ":" + tag, PullPolicy: p, Resource: "ns/r", ResourceVersion: rv})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	policies := []fetch.PullPolicy{fetch.PullUnspecified, fetch.PullIfNotPresent, fetch.PullAlways}
	pushAll := func(mod []byte) {
		for _, p := range policies {
			for _, tag := range []string{"stable", "latest"} {
				fetchtest.Push(t, reg.host+"/p/"+strings.ToLower(p.String())+":"+tag, mod, fetch.LayoutOCIImage)
			}
		}
	}
	pushAll(v1)
	for _, p := range policies {
		get("stable", p, "1")
		get("latest", p, "1")
	}
	pushAll(v2)
	want := map[string]map[fetch.PullPolicy]string{
		// unchanged resource version: nothing is pulled again, except unspecified+latest.
		"1": {fetch.PullUnspecified: sum(v1), fetch.PullIfNotPresent: sum(v1), fetch.PullAlways: sum(v1)},
		// new resource version: Always pulls again.
		"2": {fetch.PullUnspecified: sum(v1), fetch.PullIfNotPresent: sum(v1), fetch.PullAlways: sum(v2)},
	}
	for _, rv := range []string{"1", "2"} {
		for p, w := range want[rv] {
			if got := get("stable", p, rv).SHA256; got != w {
				t.Errorf("tag stable, policy %s, rv %s: got %s want %s", p, rv, got[:8], w[:8])
			}
		}
	}
	// latest with no policy is Always: the same resource version reuses, a new one pulls.
	if got := get("latest", fetch.PullUnspecified, "1").SHA256; got != sum(v1) {
		t.Errorf("unspecified policy on latest, same resource version: got %s", got[:8])
	}
	if got := get("latest", fetch.PullUnspecified, "2").SHA256; got != sum(v2) {
		t.Errorf("unspecified policy on latest, new resource version: got %s", got[:8])
	}
}

func TestOCI_SingleflightAndCacheRestart(t *testing.T) {
	reg := newInProcessRegistry(t)
	dir := t.TempDir()
	f := fetchtest.NewFetcher(t, dir)
	mod := fetchtest.Module("sf")
	digest := fetchtest.Push(t, reg.host+"/s/m:1", mod, fetch.LayoutWasmArtifact)
	reg.blobGets.Store(0)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.Fetch(context.Background(), fetch.Request{URL: "oci://" + reg.host + "/s/m:1", Resource: "ns/r" + string(rune('a'+i))})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// the layer (and at most the config), once.
	if n := reg.blobGets.Load(); n < 1 || n > 2 {
		t.Errorf("16 concurrent fetches downloaded %d blobs, want 2 (one pull)", n)
	}
	if m := f.Metrics(); m.Downloads != 1 || m.Success != 16 {
		t.Errorf("metrics %+v", m)
	}
	// A new fetcher on the same cache (a second control-plane start) needs no network for a
	// pinned digest or an IfNotPresent tag.
	reg.Close()
	f2 := fetchtest.NewFetcher(t, dir)
	for _, req := range []fetch.Request{
		{URL: "oci://" + reg.host + "/s/m:1", SHA256: digest},
		{URL: "oci://" + reg.host + "/s/m:1", PullPolicy: fetch.PullIfNotPresent, Resource: "ns/other"},
	} {
		m, err := f2.Fetch(context.Background(), req)
		if err != nil || !m.CacheHit || m.SHA256 != sum(mod) {
			t.Errorf("after restart %+v: %+v %v", req, m, err)
		}
	}
	if m := f2.Metrics(); m.CacheHits != 2 || m.Downloads != 0 {
		t.Errorf("metrics after restart %+v", m)
	}
}

func TestCache_CorruptionAndBound(t *testing.T) {
	reg := newInProcessRegistry(t)
	dir := t.TempDir()
	mods := [][]byte{fetchtest.Module("a"), fetchtest.Module("bb"), fetchtest.Module("ccc")}
	var digests []string
	for i, m := range mods {
		digests = append(digests, fetchtest.Push(t, reg.host+"/c/m:"+string(rune('0'+i)), m, fetch.LayoutOCIImage))
	}
	bound := int64(len(mods[1]) + len(mods[2]))
	f := fetchtest.NewFetcher(t, dir, func(o *fetch.Options) { o.MaxCacheBytes = bound })
	get := func(i int) fetch.Module {
		t.Helper()
		m, err := f.Fetch(context.Background(), fetch.Request{URL: "oci://" + reg.host + "/c/m:" + string(rune('0'+i)), SHA256: digests[i]})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m0 := get(0)
	// Corrupt the entry: the next read detects it and fetches again.
	os.WriteFile(m0.Path, []byte("\x00asm\x01\x00\x00\x00garbage"), 0o644)
	again := get(0)
	if again.CacheHit || !bytes.Equal(fetchtest.ReadFile(t, again.Path), mods[0]) || f.Metrics().Corrupt != 1 {
		t.Errorf("corrupted entry: %+v, metrics %+v", again, f.Metrics())
	}
	get(1)
	get(2) // evicts module 0, the least recently used
	m := f.Metrics()
	if m.CacheBytes > bound || m.Evictions != 1 || m.CacheModules != 2 {
		t.Errorf("bound %d: metrics %+v", bound, m)
	}
	if _, err := os.Stat(m0.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("evicted module still on disk: %v", err)
	}
	var total int64
	filepath.Walk(filepath.Join(dir, "sha256"), func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			total += fi.Size()
		}
		return nil
	})
	if total > bound {
		t.Errorf("cache holds %d bytes on disk, bound %d", total, bound)
	}
	// Modules in use are evicted last: with 1 and 2 in use, 0 does not fit.
	f.SetInUse([]string{sum(mods[1]), sum(mods[2])})
	if _, err := f.Fetch(context.Background(), fetch.Request{URL: "oci://" + reg.host + "/c/m:0", SHA256: digests[0]}); fetch.ReasonOf(err) != fetch.ReasonTooLarge {
		t.Errorf("no room besides modules in use: %v", err)
	}
}

func TestPullSecret(t *testing.T) {
	f := fetchtest.NewFetcher(t, "")
	_, err := f.Fetch(context.Background(), fetch.Request{URL: "oci://127.0.0.1:1/x:1", PullSecretName: "apps/creds"})
	if fetch.ReasonOf(err) != fetch.ReasonSecret || !strings.Contains(err.Error(), "apps/creds") {
		t.Errorf("missing secret: %v", err)
	}
	_, err = f.Fetch(context.Background(), fetch.Request{URL: "oci://127.0.0.1:1/x:1", PullSecretName: "s", PullSecret: []byte("null")})
	if fetch.ReasonOf(err) != fetch.ReasonSecret {
		t.Errorf("null secret: %v", err)
	}
}
