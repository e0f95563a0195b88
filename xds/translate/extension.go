package translate

import (
	"encoding/json"
	"fmt"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	dmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/dynamic_modules/v3"
	dmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"istio.io/api/extensions/v1alpha1"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/policy"
)

// Type URLs of the binding filter configs.
const (
	DynamicModulesTypeURL = "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter"
	GolangTypeURL         = "type.googleapis.com/envoy.extensions.filters.http.golang.v3alpha.Config"
)

// DenyStatus is what a fail-closed slot answers when its module cannot be used (as Istio's
// deny-all RBAC filter).
const DenyStatus = 403

func filterTypeURL(b Binding) (string, error) {
	switch b {
	case DynamicModules:
		return DynamicModulesTypeURL, nil
	case Golang:
		return GolangTypeURL, nil
	}
	return "", fmt.Errorf("unknown binding %q (want %s or %s)", b, DynamicModules, Golang)
}

// filterTypeURL is the type of the proxies' extension filters: the golang binding served to
// stock Envoy through the golang host is a dynamic-module filter.
func (o Options) filterTypeURL() (string, error) {
	if o.Binding == Golang && o.GolangHost {
		return DynamicModulesTypeURL, nil
	}
	return filterTypeURL(o.Binding)
}

// ExtensionConfig builds the ECDS resource of one valid extension. It returns a nil config when
// the extension is left out of the chain (a fail-open Wasm extension whose module cannot be
// resolved); problem then says why, and also reports a fail-closed slot that denies.
func ExtensionConfig(e *model.Extension, opts Options) (*corev3.TypedExtensionConfig, *model.Error, error) {
	cfg, problem, _, err := extensionConfig(e, opts)
	return cfg, problem, err
}

// extensionConfig is ExtensionConfig that also says whether the extension runs Wasm; a Wasm
// extension's message carries the proxy's callout gateway address (Options.gateway).
func extensionConfig(e *model.Extension, opts Options) (*corev3.TypedExtensionConfig, *model.Error, bool, error) {
	gateway := opts.gateway
	opts = opts.withDefaults()
	msg, problem := Message(e, opts.Wasm)
	if msg == nil {
		return nil, problem, false, nil
	}
	if msg.Wasm != nil {
		msg.CalloutGateway = gateway
	}
	data, err := extconfig.Marshal(msg)
	if err != nil {
		return nil, nil, false, fmt.Errorf("extension[%s]: %w", e.Key, err)
	}
	payload := mustAny(wrapperspb.String(string(data)))
	var cfg *corev3.TypedExtensionConfig
	switch opts.Binding {
	case DynamicModules:
		if policy.IsNetwork(e) {
			cfg = &corev3.TypedExtensionConfig{Name: msg.Name, TypedConfig: networkTypedConfig(opts, payload)}
			break
		}
		cfg = &corev3.TypedExtensionConfig{Name: msg.Name, TypedConfig: mustAny(&dmfilterv3.DynamicModuleFilter{
			DynamicModuleConfig: &dmv3.DynamicModuleConfig{Name: opts.ModuleName, DoNotClose: true},
			FilterName:          opts.ModuleName,
			FilterConfig:        payload,
		})}
	case Golang:
		if policy.IsNetwork(e) {
			return nil, networkBindingProblem(e, opts.Binding), false, nil
		}
		golang := &golangv3alpha.Config{
			LibraryId:    opts.ModuleName,
			LibraryPath:  opts.GolangLibraryPath,
			PluginName:   opts.ModuleName,
			PluginConfig: payload,
		}
		if !opts.GolangHost {
			cfg = &corev3.TypedExtensionConfig{Name: msg.Name, TypedConfig: mustAny(golang)}
			break
		}
		hosted, err := GolangHostFilter(golang)
		if err != nil {
			return nil, nil, false, fmt.Errorf("extension[%s]: %w", e.Key, err)
		}
		cfg = &corev3.TypedExtensionConfig{Name: msg.Name, TypedConfig: mustAny(hosted)}
	default:
		_, err := filterTypeURL(opts.Binding)
		return nil, nil, false, err
	}
	return cfg, problem, msg.Wasm != nil, nil
}

// Message builds the extconfig message of one valid extension. It returns nil when the
// extension must be left out (fail-open Wasm whose module cannot be resolved).
func Message(e *model.Extension, wasm WasmResolver) (*extconfig.Extension, *model.Error) {
	msg := &extconfig.Extension{
		Name:       e.ResourceName(),
		Generation: e.ResourceVersion,
	}
	if lua := e.Spec.GetLua(); lua != nil {
		msg.Lua = &extconfig.Lua{InlineCode: lua.GetInlineCode()}
		msg.FailStrategy = extconfig.FailClose
		if e.Annotations[model.AnnotationFailStrategy] == string(extconfig.FailOpen) {
			msg.FailStrategy = extconfig.FailOpen
		}
		return msg, nil
	}
	w := e.Spec.GetWasm()
	msg.FailStrategy = failStrategy(w.GetFailStrategy())
	if wasm == nil {
		wasm = FileResolver{}
	}
	path, sum, err := wasm.Resolve(e)
	if err != nil {
		if msg.FailStrategy == extconfig.FailOpen {
			return nil, e.Errorf("spec.wasm.url", 0, fmt.Sprintf("%v; failStrategy FAIL_OPEN: the extension is skipped", err))
		}
		msg.Deny = &extconfig.Deny{Status: DenyStatus, Reason: "module unavailable"}
		return msg, e.Errorf("spec.wasm.url", 0, fmt.Sprintf("%v; failStrategy %s: the extension answers %d", err, msg.FailStrategy, DenyStatus))
	}
	msg.Wasm = &extconfig.Wasm{
		Path:         path,
		SHA256:       sum,
		PluginName:   w.GetPluginName(),
		PluginConfig: pluginConfig(w),
		Env:          inlineEnv(w),
	}
	return msg, nil
}

func failStrategy(f v1alpha1.FailStrategy) extconfig.FailStrategy {
	switch f {
	case v1alpha1.FailStrategy_FAIL_OPEN:
		return extconfig.FailOpen
	case v1alpha1.FailStrategy_FAIL_RELOAD:
		return extconfig.FailReload
	}
	return extconfig.FailClose
}

// pluginConfig is the JSON text of spec.wasm.pluginConfig (keys sorted), or nil when empty.
func pluginConfig(w *v1alpha1.WasmConfig) []byte {
	pc := w.GetPluginConfig()
	if pc == nil || len(pc.GetFields()) == 0 {
		return nil
	}
	b, err := json.Marshal(pc.AsMap())
	if err != nil {
		return nil
	}
	return b
}

// inlineEnv returns the INLINE environment variables. HOST ones are resolved by the proxy and
// are not handled yet.
func inlineEnv(w *v1alpha1.WasmConfig) map[string]string {
	var env map[string]string
	for _, e := range w.GetVmConfig().GetEnv() {
		if e.GetValueFrom() == v1alpha1.EnvValueSource_HOST {
			continue
		}
		if env == nil {
			env = map[string]string{}
		}
		env[e.GetName()] = e.GetValue()
	}
	return env
}
