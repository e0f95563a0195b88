package fetch

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// PushRawLayer pushes an OCI image whose single layer is the given tar (for layout tests).
func PushRawLayer(ref string, tarBytes []byte) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img, err = mutate.AppendLayers(img, static.NewLayer(tarBytes, types.OCIUncompressedLayer))
	if err != nil {
		return err
	}
	return remote.Write(r, img, remote.WithContext(context.Background()))
}
