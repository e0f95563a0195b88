//go:build conformance

package registry

// Acceptance tests against a real registry: Debian's docker-registry (docker/distribution
// 2.8), started on loopback by fetchtest (installed with apt-get when missing).

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trafficext/trafficext/xds/fetch"
	"github.com/trafficext/trafficext/xds/fetch/fetchtest"
	"github.com/trafficext/trafficext/xds/model"
)

func TestRegistry_PullMatrix(t *testing.T) {
	plain := fetchtest.Start(t, fetchtest.Options{})
	secure := fetchtest.Start(t, fetchtest.Options{TLS: true, Auth: true})
	ctx := context.Background()

	t.Run("anonymous, every layout", func(t *testing.T) {
		f := fetchtest.NewFetcher(t, "")
		for _, layout := range fetch.Layouts {
			mod := fetchtest.Module("anon-" + string(layout))
			digest := fetchtest.Push(t, plain.Addr+"/anon/"+string(layout)+":0.0.1", mod, layout)
			m, err := f.Fetch(ctx, fetch.Request{URL: plain.URL("anon/" + string(layout) + ":0.0.1"), SHA256: digest})
			if err != nil {
				t.Fatalf("%s: %v", layout, err)
			}
			if !bytes.Equal(fetchtest.ReadFile(t, m.Path), mod) || m.Checksum != digest {
				t.Errorf("%s: %+v", layout, m)
			}
		}
	})

	t.Run("TLS and htpasswd", func(t *testing.T) {
		mod := fetchtest.Module("private")
		img, _ := fetch.Image(mod, fetch.LayoutOCIImage)
		if _, err := fetch.Push(ctx, secure.Addr+"/private/m:0.0.1", img, fetch.PushOptions{RootCAs: secure.CAs}); err == nil {
			t.Fatal("anonymous push to the authenticated registry succeeded")
		}
		if _, err := fetch.Push(ctx, secure.Addr+"/private/m:0.0.1", img, fetch.PushOptions{RootCAs: secure.CAs, Username: fetchtest.Username, Password: fetchtest.Password}); err != nil {
			t.Fatal(err)
		}
		f := fetchtest.NewFetcher(t, "", func(o *fetch.Options) { o.RootCAs = secure.CAs })
		url := secure.URL("private/m:0.0.1")
		_, err := f.Fetch(ctx, fetch.Request{URL: url, Resource: "apps/private"})
		if fetch.ReasonOf(err) != fetch.ReasonAuth || !strings.Contains(err.Error(), "registry "+secure.Addr) {
			t.Errorf("without a secret: %v", err)
		}
		_, err = f.Fetch(ctx, fetch.Request{URL: url, PullSecretName: "creds", PullSecret: fetchtest.DockerConfig(secure.Addr, fetchtest.Username, "wrong")})
		if fetch.ReasonOf(err) != fetch.ReasonAuth {
			t.Errorf("wrong password: %v", err)
		}
		m, err := f.Fetch(ctx, fetch.Request{URL: url, PullSecretName: "creds", PullSecret: secure.DockerConfig()})
		if err != nil || !bytes.Equal(fetchtest.ReadFile(t, m.Path), mod) {
			t.Fatalf("with the secret: %+v %v", m, err)
		}
		// The system CA pool does not know the test CA.
		_, err = fetchtest.NewFetcher(t, "", func(o *fetch.Options) { o.Attempts = 1 }).Fetch(ctx, fetch.Request{URL: url, PullSecret: secure.DockerConfig(), PullSecretName: "creds"})
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("unknown CA: %v", err)
		}
	})

	t.Run("HTTP URL with sha256", func(t *testing.T) {
		// The registry serves blobs over plain HTTP: the Wasm artifact's layer is a raw module.
		mod := fetchtest.Module("over-http")
		fetchtest.Push(t, plain.Addr+"/http/m:1", mod, fetch.LayoutWasmArtifact)
		url := "http://" + plain.Addr + "/v2/http/m/blobs/sha256:" + sum(mod)
		f := fetchtest.NewFetcher(t, "")
		m, err := f.Fetch(ctx, fetch.Request{URL: url, SHA256: sum(mod)})
		if err != nil || m.SHA256 != sum(mod) {
			t.Fatalf("%+v %v", m, err)
		}
		if _, err := f.Fetch(ctx, fetch.Request{URL: url, SHA256: strings.Repeat("f", 64), Resource: "x"}); fetch.ReasonOf(err) != fetch.ReasonChecksum {
			t.Errorf("wrong sha256: %v", err)
		}
	})
}

func TestRegistry_TagMove(t *testing.T) {
	reg := fetchtest.Start(t, fetchtest.Options{})
	f := fetchtest.NewFetcher(t, "")
	v1, v2 := fetchtest.Module("0.0.1"), fetchtest.Module("0.0.2")
	repos := map[fetch.PullPolicy]string{fetch.PullUnspecified: "unset", fetch.PullIfNotPresent: "ifnotpresent", fetch.PullAlways: "always"}
	for _, r := range repos {
		fetchtest.Push(t, reg.Addr+"/tags/"+r+":0.0.1", v1, fetch.LayoutOCIImage)
		fetchtest.Push(t, reg.Addr+"/tags/"+r+":latest", v1, fetch.LayoutOCIImage)
	}
	get := func(p fetch.PullPolicy, tag, rv string) string {
		t.Helper()
		m, err := f.Fetch(context.Background(), fetch.Request{URL: reg.URL("tags/" + repos[p] + ":" + tag), PullPolicy: p, Resource: "istio-system/ext", ResourceVersion: rv})
		if err != nil {
			t.Fatal(err)
		}
		switch m.SHA256 {
		case sum(v1):
			return "0.0.1"
		case sum(v2):
			return "0.0.2"
		}
		return "?"
	}
	for p := range repos {
		get(p, "0.0.1", "rv1")
		get(p, "latest", "rv1")
	}
	// The tag moves: 0.0.1 (and latest) now hold the 0.0.2 module.
	for _, r := range repos {
		fetchtest.Push(t, reg.Addr+"/tags/"+r+":0.0.1", v2, fetch.LayoutOCIImage)
		fetchtest.Push(t, reg.Addr+"/tags/"+r+":latest", v2, fetch.LayoutOCIImage)
	}
	// The resource changes (new resourceVersion, e.g. a metadata-only edit).
	cases := []struct {
		p         fetch.PullPolicy
		tag, want string
	}{
		{fetch.PullIfNotPresent, "0.0.1", "0.0.1"},
		{fetch.PullAlways, "0.0.1", "0.0.2"},
		{fetch.PullUnspecified, "0.0.1", "0.0.1"},   // unset = IfNotPresent ...
		{fetch.PullUnspecified, "latest", "0.0.2"},  // ... except latest = Always
		{fetch.PullIfNotPresent, "latest", "0.0.1"}, // an explicit policy wins
	}
	for _, c := range cases {
		if got := get(c.p, c.tag, "rv2"); got != c.want {
			t.Errorf("policy %s, tag %s: serves %s, want %s", c.p, c.tag, got, c.want)
		}
	}
}

// The registry goes down, the module is unavailable, the registry comes back: the resolver's
// background re-fetch makes the module available and reports the change on its own.
func TestRegistry_DownThenUp(t *testing.T) {
	reg := fetchtest.Start(t, fetchtest.Options{})
	mod := fetchtest.Module("comeback")
	fetchtest.Push(t, reg.Addr+"/down/m:1", mod, fetch.LayoutOCIImage)
	reg.Stop()

	f := fetchtest.NewFetcher(t, "", func(o *fetch.Options) { o.Attempts = 2 })
	r := fetch.NewResolver(f, fetch.ResolverOptions{SyncWait: 5 * time.Second, RetryBase: 100 * time.Millisecond, RetryMax: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var changes atomic.Int32
	go r.Run(ctx, func() { changes.Add(1) })

	e := fetchtest.Extension(t, "istio-system", "comeback", "rv1", `url: `+reg.URL("down/m:1"))
	out := r.Prepare([]*model.Extension{e}, nil)
	if len(out.Problems) != 1 || !strings.Contains(out.Problems[0].Error(), "istio-system/comeback") || !strings.Contains(out.Problems[0].Error(), "registry "+reg.Addr) ||
		fetch.ReasonOf(errorOf(r, e)) != fetch.ReasonUnreachable {
		t.Fatalf("registry down: problems %v, resolve %v", out.Problems, errorOf(r, e))
	}
	if f.Metrics().FailureByReason[fetch.ReasonUnreachable] == 0 {
		t.Errorf("failure metric: %+v", f.Metrics())
	}
	before := changes.Load()
	reg.Start()
	deadline := time.Now().Add(10 * time.Second)
	for errorOf(r, e) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("module not fetched after the registry came back: %v", errorOf(r, e))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for changes.Load() == before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if changes.Load() == before {
		t.Error("no change reported")
	}
	if out := r.Prepare([]*model.Extension{e}, nil); len(out.Problems) != 0 {
		t.Errorf("problems after recovery: %v", out.Problems)
	}
}

func errorOf(r *fetch.Resolver, e *model.Extension) error {
	_, _, err := r.Resolve(e)
	return err
}
