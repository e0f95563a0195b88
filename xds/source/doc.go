// Package source loads TrafficExtension resources and reports every change as a full snapshot.
//
// A Source runs until its context ends and calls back with a Snapshot of everything it holds
// each time something changes. Dir reads a directory of *.yaml, *.yml and *.json files
// (multi-document YAML allowed) and watches it; Static serves a fixed snapshot. A Kubernetes
// source can implement the same interface later.
//
// Decoding is strict and positioned: a file that is not valid YAML is reported as a whole (its
// resources are then unknown, so the control plane keeps what it last had from that file), while
// a resource whose spec does not fit the TrafficExtension schema (an unknown field, an unknown
// enum value such as phase: AUTHX, a wrong type) is still returned, keyed by namespace/name,
// with model.Extension.DecodeErrors naming the field. Documents of other kinds (Secret,
// WasmPlugin, ...) are skipped with a note.
package source
