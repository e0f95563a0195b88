package fetch

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestKeychainMatchesRegistriesLikeDocker(t *testing.T) {
	kc, err := keychainFromDockerConfig([]byte(`{"auths":{
		"https://index.docker.io/v1/": {"auth": "aHViOmh1Yg=="},
		"http://127.0.0.1:5000/some/path": {"username": "u", "password": "p"},
		"ghcr.io": {}}}`))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]authn.AuthConfig{
		"docker.io/library/x:1":  {Username: "hub", Password: "hub"},
		"127.0.0.1:5000/a/b:1":   {Username: "u", Password: "p"},
		"ghcr.io/org/m:1":        {}, // empty auth: anonymous
		"quay.io/org/m:1":        {},
		"index.docker.io/x/y:1":  {Username: "hub", Password: "hub"},
		"registry-1.docker.io/x": {Username: "hub", Password: "hub"},
	}
	for ref, want := range cases {
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		a, err := kc.Resolve(r.Context())
		if err != nil {
			t.Fatal(err)
		}
		got, err := authn.Authorization(t.Context(), a)
		if err != nil {
			t.Fatal(err)
		}
		if got.Auth != "" { // "auth" is user:password in base64
			if b, err := base64.StdEncoding.DecodeString(got.Auth); err == nil {
				got.Username, got.Password, _ = strings.Cut(string(b), ":")
			}
		}
		if got.Username != want.Username || got.Password != want.Password {
			if !(want == (authn.AuthConfig{}) && a == authn.Anonymous) {
				t.Errorf("%s: got %+v, want %+v", ref, got, want)
			}
		}
	}
	for _, bad := range []string{"null", "{", `{"auths": 3}`} {
		if _, err := keychainFromDockerConfig([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestParseLocation(t *testing.T) {
	cases := []struct {
		url, module, registry, digest string
		scheme                        Scheme
		latest                        bool
	}{
		{"oci://r:5000/a/b:1", "oci://r:5000/a/b", "r:5000", "", SchemeOCI, false},
		{"r:5000/a/b", "oci://r:5000/a/b", "r:5000", "", SchemeOCI, true},
		{"oci://r.io/a:latest", "oci://r.io/a", "r.io", "", SchemeOCI, true},
		{"oci://r.io/a@sha256:" + hex64, "oci://r.io/a", "r.io", hex64, SchemeOCI, false},
		{"oci://istio/basic-auth:1", "oci://index.docker.io/istio/basic-auth", "index.docker.io", "", SchemeOCI, false},
		{"https://h:8443/m.wasm", "https://h:8443/m.wasm", "h:8443", "", SchemeHTTPS, false},
		{"file:///opt/m.wasm", "file:///opt/m.wasm", "local file", "", SchemeFile, false},
	}
	for _, c := range cases {
		l, err := parseLocation(c.url)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if l.moduleName != c.module || l.registry != c.registry || l.digest != c.digest || l.scheme != c.scheme || l.latest != c.latest {
			t.Errorf("%s: %+v", c.url, l)
		}
	}
	for _, bad := range []string{"", "ftp://x/y", "oci://UPPER/Case:x", "http:///nohost", "file://"} {
		if _, err := parseLocation(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
