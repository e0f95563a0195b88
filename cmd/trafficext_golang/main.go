// Command trafficext_golang is the trafficext filter as a shared object for Envoy's contrib
// golang HTTP filter (envoy.filters.http.golang). It must be built against the Envoy line it is
// loaded into; make golang-filter builds every line (see host/golang), for example Envoy 1.38:
//
//	CGO_ENABLED=1 go build -modfile=host/golang/lines/go.1.38.mod -tags envoy_1_38 \
//	  -buildmode=c-shared -o out/golang/1.38/trafficext_golang.so ./cmd/trafficext_golang
//
// and configure each extension as its own golang filter with library_id "trafficext",
// library_path pointing at the .so, plugin_name "trafficext" and plugin_config an Any holding a
// google.protobuf.StringValue with the extension config JSON (extconfig).
//
// The golang filter looks plugins up by name in a registry filled at load time, so init()
// registers the plugin: this package holds the binding's only process-wide state. Setting
// TRAFFICEXT_FAULT_INJECTION in Envoy's environment (for example
// "panic-header=x-trafficext-panic") enables the core's fault injection for tests.
package main

import (
	"os"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/envoyproxy/envoy/contrib/golang/filters/http/source/go/pkg/http"

	"github.com/trafficext/trafficext/host/engines"
	"github.com/trafficext/trafficext/host/golang"
)

func init() {
	p := golangPlugin()
	http.RegisterHttpFilterFactoryAndConfigParser(golang.PluginName, p.Factory, p)
}

// golangPlugin is the plugin of this library; bad settings refuse every configuration.
func golangPlugin() *golang.Plugin {
	s, err := engines.FromEnv(os.Getenv)
	if err != nil {
		api.LogErrorf("trafficext: %v", err)
		return golang.Refusing(err)
	}
	return golang.New(s.Engines(), s.Options()...)
}

func main() {}
