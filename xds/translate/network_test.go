package translate_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	dmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/translate"
)

func TestProxy_NetworkExtensions(t *testing.T) {
	tcp := func(id proxyid.Identity) proxyid.Identity { id.Protocol = proxyid.ProtocolTCP; return id }
	gateway := proxyid.Identity{ID: "gw.apps", Mode: proxyid.Gateway, Namespace: "apps", Listen: "127.0.0.1:10000"}
	authz := []string{"apps.tcp-authz-high", "apps.tcp-authz-low", "apps.tcp-stats"}
	tests := []struct {
		name   string
		id     proxyid.Identity
		opts   translate.Options
		chains map[string][]string
	}{
		// Network filters first (AUTHZ by priority, STATS, unset), then the HCM's chain.
		{"gateway-http", gateway, translate.Options{}, map[string][]string{"gateway": append(authz, "apps.http-lua")}},
		{"sidecar-tcp", tcp(shapeSidecar), translate.Options{}, map[string][]string{
			"outbound|8080": authz,
			"inbound|9080":  append(authz, "apps.tcp-server-only"),
		}},
		{"waypoint-tcp", tcp(shapeWaypoint), translate.Options{}, map[string][]string{
			"waypoint|apps/echo-a": {"apps.tcp-waypoint"},
			"waypoint|apps/echo-b": {"apps.tcp-waypoint"},
		}},
		// The golang binding has no network filter: network extensions are left out, said so.
		{"golang-http", gateway, translate.Options{Binding: translate.Golang}, map[string][]string{"gateway": {"apps.http-lua"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := translate.Proxy(tt.id, load(t, "network.yaml"), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for l, c := range res.Chains {
				got[l] = short(c)
			}
			if !reflect.DeepEqual(got, tt.chains) {
				t.Errorf("chains = %v\nwant     %v", got, tt.chains)
			}
			out := render(t, res)
			golden := filepath.Join("testdata", "network-"+tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./xds/translate -update)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("%s differs from the output; run go test ./xds/translate -update and review the diff\n%s", golden, out)
			}
		})
	}
}

// networkResolver renders the network filter config (whose Go type go-control-plane lacks) as
// the HTTP DynamicModuleFilter it is encoded as (translate.networkTypedConfig).
type networkResolver struct{}

func (networkResolver) FindMessageByName(n protoreflect.FullName) (protoreflect.MessageType, error) {
	return protoregistry.GlobalTypes.FindMessageByName(n)
}

func (networkResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	if url == translate.NetworkTypeURL {
		return (&dmfilterv3.DynamicModuleFilter{}).ProtoReflect().Type(), nil
	}
	return protoregistry.GlobalTypes.FindMessageByURL(url)
}

func (networkResolver) FindExtensionByName(n protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(n)
}

func (networkResolver) FindExtensionByNumber(m protoreflect.FullName, f protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(m, f)
}
