// Package wasmfetch holds the conformance specs of Wasm module distribution through
// real Envoy: the basic-auth example pulled from a real OCI registry (Debian's
// docker-registry, started by the suite), tag moves under each pull policy, a wrong sha256,
// and a registry that is down and comes back. The specs are behind the conformance build tag.
package wasmfetch
