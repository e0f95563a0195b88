// Package images runs the Dockerfile's images as a user runs them: a proxy container (stock
// Envoy plus libtrafficext.so, found through ENVOY_DYNAMIC_MODULES_SEARCH_PATH) fed by the xds
// container, routing to the echo container, with the Wasm example's module pulled from the
// registry container, and real HTTP from the host through the proxy's published port. The
// images come from `make images` (kind/images); the tests skip only when docker is absent.
package images
