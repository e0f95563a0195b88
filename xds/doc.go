// Package xds is the trafficext control plane: it wires a source of TrafficExtension resources
// (a watched directory by default) through validation, keep-last-good, per-proxy selection and
// translation into the ADS server that Envoy connects to.
//
//	source ─► validate ─► keep last good ─► server (per proxy: policy.Select ─► translate ─► snapshot)
//
// Subpackages, one job each: model (the resource model and positioned errors), source (files,
// watching), validate (rules), policy (attachment and ordering), translate (Envoy resources),
// server (go-control-plane ADS), proxyid (node identity).
//
// The CLI uses Run for "trafficext xds" / "trafficext run", and ValidateFiles or CheckFiles for
// "trafficext validate FILE…".
package xds
