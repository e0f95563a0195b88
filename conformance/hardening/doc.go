// Package hardening is the adversarial suite against `trafficext run` (the built binary, a
// real Envoy, real TCP and HTTP): thousands of extensions on one gateway, kill -9 of run,
// resource names Kubernetes would refuse, and slowloris clients. Its tests are behind the
// conformance build tag:
//
//	go test -tags conformance ./conformance/hardening/
//
// CI attaches 1,000 extensions; TRAFFICEXT_SCALE_EXTENSIONS=10000 runs the scale test at
// 10,000 (about a minute and 2 GiB of Envoy RSS; numbers in docs/benchmarks.md).
package hardening
