package fetch

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Scheme of a module URL.
type Scheme string

// Schemes.
const (
	SchemeOCI   Scheme = "oci"
	SchemeHTTP  Scheme = "http"
	SchemeHTTPS Scheme = "https"
	SchemeFile  Scheme = "file"
)

// location is a parsed module URL.
type location struct {
	raw    string
	scheme Scheme
	// ref is the OCI reference (host/repo:tag or host/repo@sha256:...), for SchemeOCI.
	ref name.Reference
	// moduleName identifies the module independently of its tag or digest: "oci://host/repo",
	// or the whole URL for http(s) and file.
	moduleName string
	// registry is the OCI registry or the HTTP host, for messages.
	registry string
	// path is the local path, for SchemeFile.
	path string
	// digest is the hex digest carried by an OCI URL (@sha256:<hex>), if any.
	digest string
	// latest is true for an OCI URL whose tag is latest (explicitly or by default).
	latest bool
}

func parseLocation(raw string) (*location, error) {
	if raw == "" {
		return nil, fmt.Errorf("empty URL")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		scheme, rest = string(SchemeOCI), raw // Istio: no scheme means oci
	}
	l := &location{raw: raw, scheme: Scheme(strings.ToLower(scheme))}
	switch l.scheme {
	case SchemeOCI:
		ref, err := name.ParseReference(rest)
		if err != nil {
			return nil, fmt.Errorf("parsing image reference %q: %w", rest, err)
		}
		l.ref = ref
		l.registry = ref.Context().RegistryStr()
		l.moduleName = "oci://" + ref.Context().Name()
		switch r := ref.(type) {
		case name.Digest:
			l.digest = strings.TrimPrefix(r.DigestStr(), "sha256:")
		case name.Tag:
			l.latest = r.TagStr() == "latest"
		}
	case SchemeHTTP, SchemeHTTPS:
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("parsing URL: %w", err)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("URL %q has no host", raw)
		}
		l.registry = u.Host
		l.moduleName = raw
	case SchemeFile:
		if rest == "" {
			return nil, fmt.Errorf("URL %q has no path", raw)
		}
		l.path = rest
		l.registry = "local file"
		l.moduleName = raw
	default:
		return nil, fmt.Errorf("unsupported scheme %q (want oci, http, https or file)", scheme)
	}
	return l, nil
}
