// Package model is the control plane's in-memory view of one TrafficExtension resource: its
// identity and origin (file, namespace/name, creation time, content hash) around the real
// istio.io/api spec, and the positioned error type every xds package reports problems with.
//
// It is a leaf: it imports only the Istio API types it wraps.
package model

import (
	"strconv"
	"strings"
	"time"

	"istio.io/api/extensions/v1alpha1"
)

// ResourceNamePrefix starts every extension's Envoy filter name and ECDS resource name, as in Istio.
const ResourceNamePrefix = "extensions.istio.io/trafficextension/"

// DefaultNamespace is the namespace of a resource whose metadata names none (as kubectl would).
const DefaultNamespace = "default"

// Kind and group of the resources the control plane reads.
const (
	Kind       = "TrafficExtension"
	APIGroup   = "extensions.istio.io"
	APIVersion = "extensions.istio.io/v1alpha1"
	// KindWasmPlugin is the older Wasm-only resource of the same group and version. Sources
	// convert each WasmPlugin into a TrafficExtension as Istio does, named
	// <name> + WasmPluginSuffix.
	KindWasmPlugin = "WasmPlugin"
	// WasmPluginSuffix ends the name of a TrafficExtension converted from a WasmPlugin ("~"
	// cannot occur in a Kubernetes name).
	WasmPluginSuffix = "~istio-translated-wasmplugin"
)

// AnnotationFailStrategy lets a Lua extension choose how engine faults (not script errors) are
// handled: FAIL_CLOSE (default) or FAIL_OPEN. Wasm extensions use spec.wasm.failStrategy.
const AnnotationFailStrategy = "trafficext.io/fail-strategy"

// Key identifies a resource: namespace and name.
type Key struct {
	Namespace, Name string
}

// String renders the key as "namespace/name".
func (k Key) String() string { return k.Namespace + "/" + k.Name }

// ResourceName is the Envoy filter and ECDS resource name for the key:
// extensions.istio.io/trafficextension/<namespace>.<name>.
func (k Key) ResourceName() string { return ResourceNamePrefix + k.Namespace + "." + k.Name }

// Less orders keys by namespace, then name.
func (k Key) Less(o Key) bool {
	if k.Namespace != o.Namespace {
		return k.Namespace < o.Namespace
	}
	return k.Name < o.Name
}

// Extension is one decoded TrafficExtension with its metadata and origin.
type Extension struct {
	Key
	// Kind is the kind of the resource as written: Kind, or KindWasmPlugin for a converted
	// WasmPlugin ("" counts as Kind).
	Kind string
	// File is the file the resource came from ("" when it did not come from a file) and Line
	// the line its document starts on (1-based; 0 when unknown).
	File string
	Line int
	// CreationTimestamp is metadata.creationTimestamp (zero when absent).
	CreationTimestamp time.Time
	Labels            map[string]string
	Annotations       map[string]string
	// ResourceVersion is a hash of the resource's content: it changes exactly when the
	// document (metadata or spec) changes.
	ResourceVersion string
	// Spec is the decoded spec. It is nil when decoding failed; DecodeErrors then says why.
	Spec *v1alpha1.TrafficExtension
	// DecodeErrors are the problems found while decoding the spec (unknown fields, unknown enum
	// values, wrong types). A resource with decode errors is invalid.
	DecodeErrors []*Error
}

// Errorf returns an error positioned at this resource and a field path.
func (e *Extension) Errorf(field string, line int, msg string) *Error {
	return &Error{File: e.File, Key: e.Key, Field: field, Line: line, Msg: msg}
}

// Error is a problem positioned in the configuration. Its text has the shape
//
//	<file>: <namespace>/<name>: <field>: line <n>: <message>
//
// where absent parts are left out. Line is relative to what precedes it: the file when there is
// no field, otherwise the field's content (for example a line of spec.lua.inlineCode).
type Error struct {
	File  string
	Key   Key
	Field string
	Line  int
	Msg   string
	// Warning marks a problem that does not make the resource invalid.
	Warning bool
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	add := func(s string) {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(s)
	}
	if e.File != "" {
		add(e.File)
	}
	if e.Key != (Key{}) {
		add(e.Key.String())
	}
	if e.Field != "" {
		add(e.Field)
	}
	if e.Line > 0 {
		add("line " + strconv.Itoa(e.Line))
	}
	if e.Warning {
		add("warning")
	}
	add(e.Msg)
	return b.String()
}
