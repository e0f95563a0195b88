package fetch

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Layout is a way to package a module as an image; every layout is one that Fetcher (and
// Istio) accepts.
type Layout string

// Layouts.
const (
	// LayoutOCIImage is an OCI image whose single tar+gzip layer holds plugin.wasm (Istio's
	// "compat" variant; what `docker build` of FROM scratch + COPY plugin.wasm gives).
	LayoutOCIImage Layout = "oci-image"
	// LayoutDockerImage is the same with Docker media types.
	LayoutDockerImage Layout = "docker-image"
	// LayoutWasmArtifact is the OCI Wasm artifact: config of type
	// application/vnd.module.wasm.config.v1+json and the raw module as a layer of type
	// application/vnd.module.wasm.content.layer.v1+wasm.
	LayoutWasmArtifact Layout = "wasm-artifact"
)

// Layouts lists the layouts Image builds.
var Layouts = []Layout{LayoutOCIImage, LayoutDockerImage, LayoutWasmArtifact}

// Image packages a module in the given layout.
func Image(module []byte, layout Layout) (v1.Image, error) {
	switch layout {
	case LayoutWasmArtifact:
		img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, WasmConfigMediaType)
		return mutate.AppendLayers(img, static.NewLayer(module, WasmLayerMediaType))
	case LayoutOCIImage, LayoutDockerImage:
		tarBytes, err := TarModule(module)
		if err != nil {
			return nil, err
		}
		img, mt := empty.Image, types.DockerLayer
		if layout == LayoutOCIImage {
			img = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
			mt = types.OCILayer
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(tarBytes)), nil
		}, tarball.WithMediaType(mt))
		if err != nil {
			return nil, err
		}
		return mutate.AppendLayers(img, layer)
	}
	return nil, fmt.Errorf("unknown image layout %q (want one of %v)", layout, Layouts)
}

// TarModule returns an uncompressed tar holding the module as plugin.wasm.
func TarModule(module []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "plugin.wasm", Mode: 0o644, Size: int64(len(module)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(module); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PushOptions configure Push.
type PushOptions struct {
	// Username and Password authenticate to the registry; empty means anonymous.
	Username, Password string
	// RootCAs are trusted for https registries; nil means the system pool.
	RootCAs *x509.CertPool
}

// Push writes an image to ref (host/repo:tag, an oci:// prefix allowed) and returns its
// manifest digest ("sha256:<hex>").
func Push(ctx context.Context, ref string, img v1.Image, opts PushOptions) (string, error) {
	r, err := name.ParseReference(trimOCI(ref))
	if err != nil {
		return "", err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = Options{RootCAs: opts.RootCAs}.tlsConfig(r.Context().RegistryStr())
	auth := authn.Anonymous
	if opts.Username != "" {
		auth = authn.FromConfig(authn.AuthConfig{Username: opts.Username, Password: opts.Password})
	}
	if err := remote.Write(r, img, remote.WithContext(ctx), remote.WithTransport(t), remote.WithAuth(auth)); err != nil {
		return "", fmt.Errorf("pushing %s: %w", r, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

func trimOCI(s string) string {
	if len(s) > 6 && s[:6] == "oci://" {
		return s[6:]
	}
	return s
}
