package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"time"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	dmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/translate"
)

// DefaultStatusAddress is where the control plane serves its status by default.
const DefaultStatusAddress = "127.0.0.1:18001"

// StatusPath is the HTTP path of the status report.
const StatusPath = "/status"

// Extension states in a Report.
const (
	// StateAccepted: valid and served.
	StateAccepted = "accepted"
	// StateRejected: invalid (or its Wasm module does not start), and no earlier valid version
	// to serve.
	StateRejected = "rejected"
	// StateStale: the current version is invalid (or its module cannot be had); the last valid
	// version is served.
	StateStale = "stale"
)

// Report is the control plane's status, as `trafficext status` shows it.
type Report struct {
	Generated  time.Time         `json:"generated"`
	Extensions []ExtensionReport `json:"extensions"`
	Proxies    []ProxyReport     `json:"proxies"`
	NACKs      []NACK            `json:"nacks"`
	// Problems are errors that belong to no resource (a file that does not parse, ...).
	Problems []string `json:"problems,omitempty"`
}

// ExtensionReport is the status of one resource.
type ExtensionReport struct {
	// Name is namespace/name; Kind TrafficExtension or WasmPlugin; ResourceName the Envoy
	// filter and ECDS name; Origin the file or Kubernetes object it came from.
	Name         string `json:"name"`
	Kind         string `json:"kind,omitempty"`
	ResourceName string `json:"resourceName"`
	Origin       string `json:"origin,omitempty"`
	// State is StateAccepted, StateRejected or StateStale; Errors say why it is not accepted
	// and Warnings what is accepted with a caveat.
	State    string   `json:"state"`
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Proxies are the ids of the connected proxies whose chain holds the extension.
	Proxies []string `json:"proxies"`
	// Module is the Wasm module served (nil for Lua).
	Module *ModuleReport `json:"module,omitempty"`
}

// ModuleReport is what a Wasm extension's ECDS resource carries.
type ModuleReport struct {
	Path   string `json:"path,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Deny is set when the module is unavailable and the fail-closed slot answers locally.
	Deny string `json:"deny,omitempty"`
}

// ProxyReport is what was last built for one proxy.
type ProxyReport struct {
	ID        string            `json:"id"`
	Mode      string            `json:"mode"`
	Namespace string            `json:"namespace"`
	Chain     []string          `json:"chain"`
	Versions  map[string]string `json:"versions"`
}

// Proxies returns what was last built for each connected proxy, by id, and the ECDS payload
// of every extension served to some proxy, by resource name.
func (s *Server) Proxies() ([]ProxyReport, map[string]*extconfig.Extension) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ProxyReport, 0, len(s.nodes))
	payloads := map[string]*extconfig.Extension{}
	for id, n := range s.nodes {
		v := make(map[string]string, len(n.versions))
		for k, x := range n.versions {
			v[k] = x
		}
		out = append(out, ProxyReport{ID: id, Mode: string(n.id.Mode), Namespace: n.id.Namespace, Chain: slices.Clone(n.chain), Versions: v})
		for _, c := range n.configs {
			if _, ok := payloads[c.GetName()]; ok {
				continue
			}
			if p, err := Payload(c.GetTypedConfig()); err == nil {
				payloads[c.GetName()] = p
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, payloads
}

// Payload extracts the extension message from an ECDS resource's typed config (dynamic modules
// or golang filter).
func Payload(a *anypb.Any) (*extconfig.Extension, error) {
	var cfg *anypb.Any
	switch a.GetTypeUrl() {
	case "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter":
		f := &dmfilterv3.DynamicModuleFilter{}
		if err := a.UnmarshalTo(f); err != nil {
			return nil, err
		}
		cfg = f.GetFilterConfig()
	case "type.googleapis.com/envoy.extensions.filters.http.golang.v3alpha.Config":
		f := &golangv3alpha.Config{}
		if err := a.UnmarshalTo(f); err != nil {
			return nil, err
		}
		cfg = f.GetPluginConfig()
	default:
		return nil, fmt.Errorf("unknown filter config %s", a.GetTypeUrl())
	}
	sv := &wrapperspb.StringValue{}
	if err := cfg.UnmarshalTo(sv); err != nil {
		return nil, err
	}
	return extconfig.Unmarshal([]byte(sv.GetValue()))
}

// Module summarises the Wasm part of an ECDS payload (nil for Lua).
func Module(p *extconfig.Extension) *ModuleReport {
	switch {
	case p == nil:
		return nil
	case p.Wasm != nil:
		return &ModuleReport{Path: p.Wasm.Path, SHA256: p.Wasm.SHA256}
	case p.Deny != nil:
		return &ModuleReport{Deny: fmt.Sprintf("%d %s", p.Deny.Status, p.Deny.Reason)}
	}
	return nil
}

// StatusHandler serves report() as JSON at StatusPath.
func StatusHandler(report func() Report) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+StatusPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(report())
	})
	return mux
}

// ServeStatus serves StatusHandler(report) on lis until ctx ends.
func ServeStatus(ctx context.Context, lis net.Listener, report func() Report) error {
	srv := &http.Server{Handler: StatusHandler(report), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serving status: %w", err)
	}
}

// FetchReport reads the report of a running control plane at addr ("host:port").
func FetchReport(ctx context.Context, addr string) (Report, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+StatusPath, nil)
	if err != nil {
		return Report{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Report{}, fmt.Errorf("reading status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Report{}, fmt.Errorf("reading status: %s: %s", resp.Status, b)
	}
	var r Report
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return Report{}, fmt.Errorf("decoding status: %w", err)
	}
	return r, nil
}

// Extensions returns the extensions being served.
func (s *Server) Extensions() []*model.Extension {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.exts)
}

// ExtensionPayload translates one extension alone (as it would be served to any proxy) and
// returns its ECDS payload; nil when it is left out (fail-open without its module).
func (s *Server) ExtensionPayload(e *model.Extension) *extconfig.Extension {
	cfg, _, err := translate.ExtensionConfig(e, s.opts.Translate)
	if err != nil || cfg == nil {
		return nil
	}
	p, err := Payload(cfg.GetTypedConfig())
	if err != nil {
		return nil
	}
	return p
}
