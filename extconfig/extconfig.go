// Package extconfig defines the extension configuration message that the control plane puts
// into each ECDS resource and that the filter's host bindings hand to the core.
//
// The message travels as JSON text inside a google.protobuf.StringValue (the dynamic-modules
// filter_config and the golang filter plugin_config both accept it unchanged), so that it is
// readable in Envoy's config_dump and needs no generated protobuf code. It carries a schema
// version so that a filter built for a newer schema rejects an older one with a clear error
// rather than misreading it.
package extconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// SchemaVersion is the version of the message layout written by this package.
const SchemaVersion = 1

// MaxLuaSource is the largest inline Lua accepted, the TrafficExtension limit (64 KiB).
const MaxLuaSource = 65536

// FailStrategy says what a stream sees when the extension cannot run: the module could not be
// loaded, the engine trapped or panicked.
type FailStrategy string

const (
	// FailClose denies the request (the default, as Istio's FAIL_CLOSE).
	FailClose FailStrategy = "FAIL_CLOSE"
	// FailOpen skips the extension.
	FailOpen FailStrategy = "FAIL_OPEN"
	// FailReload replaces the VM after a runtime error; other failures behave as FailClose.
	FailReload FailStrategy = "FAIL_RELOAD"
)

// Extension is one TrafficExtension as the data plane needs it.
type Extension struct {
	// Schema is SchemaVersion of the writer.
	Schema int `json:"schema"`
	// Name is the Envoy filter name: extensions.istio.io/trafficextension/<ns>.<name>.
	Name string `json:"name"`
	// Generation identifies the content (a hash chosen by the control plane); logs carry it.
	Generation string `json:"generation,omitempty"`
	// FailStrategy applies to faults of the engine itself (panic, trap, unloadable module).
	FailStrategy FailStrategy `json:"failStrategy,omitempty"`
	// Lua is set for a Lua extension.
	Lua *Lua `json:"lua,omitempty"`
	// Wasm is set for a Proxy-Wasm extension.
	Wasm *Wasm `json:"wasm,omitempty"`
	// Deny, when set, makes the slot answer every request locally: the control plane uses it
	// for a fail-closed extension whose module could not be fetched or verified.
	Deny *Deny `json:"deny,omitempty"`
	// CalloutGateway, when set, is the address of the proxy's callout gateway: a listener the
	// control plane adds to the same Envoy that routes each request to the cluster named in
	// its x-trafficext-callout-cluster header. It is "ip:port", or "unix:<path>" for a Unix
	// socket ("unix:@name": Linux's abstract namespace). Engines send the calls the host
	// binding cannot make on a stream (HTTP calls from a root context, gRPC) to it, so they
	// still go through Envoy's clusters. Optional: without it such calls borrow a live stream
	// or fail.
	CalloutGateway string `json:"calloutGateway,omitempty"`
}

// Lua is an inline Lua extension.
type Lua struct {
	// InlineCode is the script source.
	InlineCode string `json:"inlineCode"`
	// CallTimeoutMillis bounds one call into the script; 0 means the engine default.
	CallTimeoutMillis int64 `json:"callTimeoutMillis,omitempty"`
}

// Wasm is a Proxy-Wasm extension whose module is already on local disk.
type Wasm struct {
	// Path is the local module file.
	Path string `json:"path,omitempty"`
	// SHA256 is the hex digest of the module bytes.
	SHA256 string `json:"sha256"`
	// PluginName is the root id.
	PluginName string `json:"pluginName,omitempty"`
	// VMID groups plugins that share a VM.
	VMID string `json:"vmId,omitempty"`
	// PluginConfig is handed to the plugin as PLUGIN_CONFIGURATION.
	PluginConfig []byte `json:"pluginConfig,omitempty"`
	// VMConfig is handed to the plugin as VM_CONFIGURATION.
	VMConfig []byte `json:"vmConfig,omitempty"`
	// Env is the VM environment (already resolved for HOST entries).
	Env map[string]string `json:"env,omitempty"`
}

// Deny describes a local answer for every request.
type Deny struct {
	Status int    `json:"status"`
	Body   string `json:"body,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Marshal encodes the extension as the bytes carried in the ECDS resource.
func Marshal(e *Extension) ([]byte, error) {
	c := *e
	c.Schema = SchemaVersion
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(&c)
}

// Unmarshal decodes and validates the bytes a binding received from Envoy.
func Unmarshal(b []byte) (*Extension, error) {
	var e Extension
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("decoding extension config: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding extension config: trailing data after the object")
	}
	if e.Schema != SchemaVersion {
		return nil, fmt.Errorf("extension config %q: schema %d, this filter reads schema %d", e.Name, e.Schema, SchemaVersion)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Validate checks the invariants of the message.
func (e *Extension) Validate() error {
	if e.Name == "" {
		return errors.New("extension config: name: must not be empty")
	}
	n := 0
	for _, set := range []bool{e.Lua != nil, e.Wasm != nil, e.Deny != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("extension config %q: exactly one of lua, wasm or deny must be set", e.Name)
	}
	switch e.FailStrategy {
	case "", FailClose, FailOpen, FailReload:
	default:
		return fmt.Errorf("extension config %q: failStrategy: unknown value %q", e.Name, e.FailStrategy)
	}
	if e.Lua != nil {
		if e.Lua.InlineCode == "" {
			return fmt.Errorf("extension config %q: lua.inlineCode: must not be empty", e.Name)
		}
		if len(e.Lua.InlineCode) > MaxLuaSource {
			return fmt.Errorf("extension config %q: lua.inlineCode: %d bytes exceeds the limit of %d", e.Name, len(e.Lua.InlineCode), MaxLuaSource)
		}
		if e.Lua.CallTimeoutMillis < 0 {
			return fmt.Errorf("extension config %q: lua.callTimeoutMillis: must not be negative", e.Name)
		}
	}
	if e.Wasm != nil && e.Wasm.Path == "" {
		return fmt.Errorf("extension config %q: wasm.path: must not be empty", e.Name)
	}
	if e.CalloutGateway != "" {
		if err := checkGateway(e.CalloutGateway); err != nil {
			return fmt.Errorf("extension config %q: calloutGateway: %w", e.Name, err)
		}
	}
	if e.Deny != nil && (e.Deny.Status < 200 || e.Deny.Status > 599) {
		return fmt.Errorf("extension config %q: deny.status: %d is not an HTTP status", e.Name, e.Deny.Status)
	}
	return nil
}

// MaxUnixPath is the longest Unix socket path (sun_path less the terminating NUL).
const MaxUnixPath = 107

// checkGateway accepts an IP literal and a port ("127.0.0.1:15084", "[::1]:15084") or a Unix
// socket ("unix:/run/x.sock", "unix:@name").
func checkGateway(a string) error {
	if path, ok := strings.CutPrefix(a, "unix:"); ok {
		switch {
		case path == "" || path == "@":
			return fmt.Errorf("%q: empty socket path", a)
		case path[0] != '/' && path[0] != '@':
			return fmt.Errorf("%q: the socket path must be absolute or start with @", a)
		case len(path) > MaxUnixPath:
			return fmt.Errorf("%q: the socket path is longer than %d bytes", a, MaxUnixPath)
		case strings.ContainsRune(path, 0):
			return fmt.Errorf("%q: NUL in the socket path", a)
		}
		return nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not ip:port: %w", a, err)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("%q: host must be an IP address: %w", a, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return fmt.Errorf("%q: port %q is not a number in 1-65535", a, port)
	}
	return nil
}

// EffectiveFailStrategy returns the strategy with the default applied.
func (e *Extension) EffectiveFailStrategy() FailStrategy {
	if e.FailStrategy == "" {
		return FailClose
	}
	return e.FailStrategy
}

// The callout gateway's wire agreement between the listener the control plane generates and
// the engine's client of it: the request header naming the target cluster (removed before
// the upstream) and the response header reporting Envoy's response code details.
const (
	CalloutClusterHeader = "x-trafficext-callout-cluster"
	CalloutDetailsHeader = "X-Trafficext-Callout-Details"
)
