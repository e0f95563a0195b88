package fetch

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of the OCI Wasm artifact (solo.io Wasm image specification).
const (
	WasmLayerMediaType  types.MediaType = "application/vnd.module.wasm.content.layer.v1+wasm"
	WasmConfigMediaType types.MediaType = "application/vnd.module.wasm.config.v1+json"
)

// pullOCI fetches the manifest, checks its digest, and downloads the module only when the
// cache does not already hold it under that digest.
func (f *Fetcher) pullOCI(ctx context.Context, loc *location, want string, secret []byte, fail func(Reason, error) error) (Module, error) {
	var keychain authn.Keychain = authn.DefaultKeychain
	if secret != nil {
		kc, err := keychainFromDockerConfig(secret)
		if err != nil {
			return Module{}, fail(ReasonSecret, err)
		}
		keychain = kc
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(f.transport(loc.registry)),
		remote.WithAuthFromKeychain(keychain),
		remote.WithRetryPredicate(func(error) bool { return false }), // retries are ours
		remote.WithUserAgent("trafficext"),
	}
	start := time.Now()
	f.log.Info("pulling Wasm image manifest", "url", loc.raw, "registry", loc.registry)
	var desc *remote.Descriptor
	ref := loc.ref
	err := f.retry(ctx, loc, func(context.Context) error {
		var err error
		desc, err = remote.Get(ref, opts...)
		if err != nil && strings.Contains(err.Error(), "server gave HTTP response") {
			// A plain-HTTP registry that is not on loopback: try again over HTTP, as Istio does.
			f.log.Info("registry answers plain HTTP; retrying insecurely", "registry", loc.registry)
			if r, perr := name.ParseReference(ref.String(), name.Insecure); perr == nil {
				ref = r
				desc, err = remote.Get(ref, opts...)
			}
		}
		return err
	})
	if err != nil {
		return Module{}, fail(classify(err), err)
	}
	img, err := desc.Image()
	if err != nil {
		return Module{}, fail(ReasonLayout, err)
	}
	d, err := img.Digest()
	if err != nil {
		return Module{}, fail(ReasonDownload, err)
	}
	checksum := d.Hex
	if want != "" && want != checksum {
		return Module{}, fail(ReasonChecksum, fmt.Errorf("the image manifest digest is sha256:%s, spec.wasm.sha256 wants %s", checksum, want))
	}
	if p, sum, ok := f.cache.lookup(loc.moduleName, checksum); ok {
		f.log.Info("Wasm image already cached", "url", loc.raw, "digest", d.String())
		return Module{Path: p, SHA256: sum, Checksum: checksum, CacheHit: true}, nil
	}
	var data []byte
	err = f.retry(ctx, loc, func(context.Context) error {
		var err error
		data, err = extractModule(img, f.opts.MaxModuleBytes)
		return err
	})
	if err != nil {
		var le *layoutError
		if errors.As(err, &le) {
			return Module{}, fail(ReasonLayout, err)
		}
		if errors.Is(err, errTooLarge) {
			return Module{}, fail(ReasonTooLarge, err)
		}
		return Module{}, fail(classify(err), err)
	}
	mod, err := f.finish(loc, want, checksum, data, fail)
	if err != nil {
		return Module{}, err
	}
	f.m.downloads.Add(1)
	f.log.Info("pulled Wasm image", "url", loc.raw, "digest", d.String(), "bytes", len(data), "took", time.Since(start).Round(time.Millisecond))
	return mod, nil
}

type layoutError struct{ msg string }

func (e *layoutError) Error() string { return e.msg }

var errTooLarge = errors.New("over the module size limit")

// extractModule returns the module of an image in one of the layouts Istio accepts:
//   - the OCI Wasm artifact: a layer of type application/vnd.module.wasm.content.layer.v1+wasm
//     holds the raw module (Istio requires exactly two layers; any count is accepted here);
//   - a Docker or OCI image whose last layer is a tar (gzip-compressed or not) holding a file
//     named plugin.wasm (the first such entry).
func extractModule(img v1.Image, max int64) ([]byte, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if len(m.Layers) == 0 {
		return nil, &layoutError{"the image has no layers"}
	}
	for _, l := range m.Layers {
		if l.MediaType == WasmLayerMediaType {
			rc, err := layerBlob(img, l.Digest)
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			return readLimited(rc, max)
		}
	}
	switch m.MediaType {
	case types.DockerManifestSchema2, types.OCIManifestSchema1, "":
	default:
		return nil, &layoutError{fmt.Sprintf("unsupported manifest media type %s", m.MediaType)}
	}
	last := m.Layers[len(m.Layers)-1]
	switch last.MediaType {
	case types.DockerLayer, types.OCILayer, types.DockerUncompressedLayer, types.OCIUncompressedLayer:
	default:
		return nil, &layoutError{fmt.Sprintf("the last layer has media type %s; want a tar or tar+gzip layer holding plugin.wasm, or a layer of type %s", last.MediaType, WasmLayerMediaType)}
	}
	rc, err := layerBlob(img, last.Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	br := bufio.NewReader(io.LimitReader(rc, max+1))
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, &layoutError{"the last layer holds no plugin.wasm"}
		}
		if err != nil {
			return nil, fmt.Errorf("reading the layer: %w", err)
		}
		if path.Base(h.Name) == "plugin.wasm" && (h.Typeflag == tar.TypeReg || h.Typeflag == 0) {
			return readLimited(tr, max)
		}
	}
}

// layerBlob opens the stored (possibly compressed) bytes of the image's layer d.
func layerBlob(img v1.Image, d v1.Hash) (io.ReadCloser, error) {
	layer, err := img.LayerByDigest(d)
	if err != nil {
		return nil, err
	}
	return layer.Compressed()
}

func readLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w of %d bytes", errTooLarge, max)
	}
	return b, nil
}

// dockerConfig is the content of a kubernetes.io/dockerconfigjson Secret.
type dockerConfig struct {
	Auths map[string]dockerAuth `json:"auths"`
}

type dockerAuth struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// keychain resolves credentials from docker config JSON, matching registries the way docker
// does (keys may carry a scheme and a path; Docker Hub's key is https://index.docker.io/v1/).
type keychain struct{ auths map[string]dockerAuth }

func keychainFromDockerConfig(b []byte) (authn.Keychain, error) {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil, errors.New("the pull secret's docker config is null")
	}
	var c dockerConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("the pull secret is not docker config JSON: %w", err)
	}
	k := keychain{auths: map[string]dockerAuth{}}
	for host, a := range c.Auths {
		k.auths[normalizeRegistry(host)] = a
	}
	return k, nil
}

func normalizeRegistry(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	switch s {
	case "docker.io", "registry-1.docker.io":
		return "index.docker.io"
	}
	return s
}

// Resolve implements authn.Keychain.
func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	a, ok := k.auths[normalizeRegistry(r.RegistryStr())]
	if !ok || a == (dockerAuth{}) {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Auth: a.Auth, Username: a.Username, Password: a.Password,
		IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken,
	}), nil
}
