// Package fetch makes Wasm modules named by spec.wasm.url available as verified local files,
// with istio-agent's semantics:
//
//   - oci:// (also a URL without a scheme): go-containerregistry; a Docker or OCI image whose
//     last layer is a tar (optionally gzip) holding plugin.wasm, or the OCI Wasm artifact
//     (a layer of type application/vnd.module.wasm.content.layer.v1+wasm);
//   - http:// and https://: a raw .wasm, or gzip and/or tar around one ("unboxing");
//   - file://: a local file, copied into the cache so that what the proxy loads never changes.
//
// sha256 is compared as Istio does: with the image manifest digest for OCI, with the module
// bytes for HTTP and file. Pull policy (IfNotPresent, Always, unset with `latest` meaning
// Always) decides whether a tagged URL is pulled again; Always pulls again when the resource's
// version changes. Pull secrets are docker config JSON (kubernetes.io/dockerconfigjson).
//
// Modules are stored content-addressed (by the sha256 of the module bytes) in a disk cache with
// a size bound and least-recently-used eviction; every cache hit is verified against its
// digest, and a corrupted entry is dropped and fetched again. Concurrent requests for the same
// module share one pull. Fetcher counts successes, failures by reason and cache hits
// (Metrics); Resolver is the control plane's view: it fetches before the ECDS resource that
// references a module is served, keeps the previous version when a new one cannot be had, and
// retries failed modules in the background with exponential backoff. With a StartChecker
// (implemented by the Wasm engine, outside xds), it also proves that each module starts with
// its extension's configuration before serving it; one that does not is handled as a module
// that cannot be had, and reported as rejected.
package fetch
