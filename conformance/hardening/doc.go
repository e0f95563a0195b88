// Package hardening is the adversarial suite against `trafficext run` (the built binary, a
// real Envoy, real TCP and HTTP): thousands of extensions on one gateway, kill -9 of run,
// resource names Kubernetes would refuse, and slowloris clients. Its tests are behind the
// conformance build tag:
//
//	go test -tags conformance ./conformance/hardening/
//
// The scale test attaches 10,000 extensions (about 15 s and 2 GiB of Envoy RSS; numbers in
// docs/benchmarks.md); TRAFFICEXT_SCALE_EXTENSIONS sets another count.
package hardening
