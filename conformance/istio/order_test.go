//go:build conformance

package istio_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/trafficext/trafficext/internal/echo"
	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/internal/loopback"
	"github.com/trafficext/trafficext/xds/istio"
	"github.com/trafficext/trafficext/xds/istio/istiotest"
	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/server"
	"github.com/trafficext/trafficext/xds/source"
)

// phaseLua is one extension of the ordering test: on the request it appends
// "<tag>:<J or ->," to x-order (J when jwt_authn has already forwarded the token payload), on
// the response it appends its digit to x-resp.
func phaseLua(name, phase, tag, digit string) string {
	return fmt.Sprintf(`apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: %s, namespace: istio-system}
spec:
  phase: %s
  lua:
    inlineCode: |
      function envoy_on_request(h)
        local j = "-"
        if h:headers():get("x-jwt-payload") ~= nil then j = "J" end
        h:headers():replace("x-order", (h:headers():get("x-order") or "") .. "%s:" .. j .. ",")
      end
      function envoy_on_response(h)
        h:headers():replace("x-resp", (h:headers():get("x-resp") or "") .. "%s")
      end
`, name, phase, tag, digit)
}

// TestEnvoy_PhaseOrderAroundNativeFilters runs a real Envoy whose gateway chain is what
// istiod generates with a RequestAuthentication and an AuthorizationPolicy (jwt_authn, RBAC,
// grpc_stats, router), patched by the EnvoyFilters `trafficext istio render` emits; the four
// Lua extensions (AUTHN, AUTHZ, STATS, unset phase) get their config over ECDS from the
// trafficext ADS server. It checks the order Envoy actually runs them in:
//   - the AUTHN extension runs before jwt_authn (no payload header yet), AUTHZ after it;
//   - RBAC allows only when x-order is exactly "authn:-,authz:J," at its turn, so AUTHN and
//     AUTHZ ran before RBAC and STATS/unset ones after it;
//   - response hooks run in reverse (unset, STATS, AUTHZ, AUTHN: "4321", Istio's "321").
func TestEnvoy_PhaseOrderAroundNativeFilters(t *testing.T) {
	if _, err := envoyproc.FindBinary(); err != nil {
		t.Skip(err)
	}
	if _, err := envoyproc.ModuleDir(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var docs []string
	for _, d := range [][4]string{
		{"unspec", "UNSPECIFIED", "unspec", "4"}, {"stats", "STATS", "stats", "3"},
		{"authz", "AUTHZ", "authz", "2"}, {"authn", "AUTHN", "authn", "1"},
	} {
		docs = append(docs, phaseLua(d[0], d[1], d[2], d[3]))
	}
	exts, _, err := source.Decode("order.yaml", []byte(strings.Join(docs, "---\n")))
	if err != nil {
		t.Fatal(err)
	}

	// trafficext control plane (ECDS) on a free port.
	srv := server.New(server.Options{Logger: slog.New(slog.NewTextHandler(testLog{t}, nil))})
	srv.Update(exts)
	xdsLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, xdsLis)

	up, err := echo.Start("127.0.0.1:0", "upstream")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()

	out, err := istio.Render(exts, istio.Options{XDSAddress: xdsLis.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	key, token, jwks := jwtFixture(t)
	_ = key
	native := []*hcmv3.HttpFilter{
		typed("envoy.filters.http.jwt_authn", jwtConfig(jwks)),
		typed("envoy.filters.http.rbac", rbacConfig("authn:-,authz:J,")),
		typed("envoy.filters.http.grpc_stats", &grpcstatsv3.FilterConfig{}),
		typed("envoy.filters.http.router", &routerv3.Router{}),
	}
	filters := patch(t, out.Resources, native)
	var names []string
	for _, f := range filters {
		names = append(names, strings.TrimPrefix(f.GetName(), model.ResourceNamePrefix))
	}
	wantChain := "istio-system.authn envoy.filters.http.jwt_authn istio-system.authz envoy.filters.http.rbac istio-system.stats istio-system.unspec envoy.filters.http.grpc_stats envoy.filters.http.router"
	if strings.Join(names, " ") != wantChain {
		t.Fatalf("patched chain = %s\nwant %s", strings.Join(names, " "), wantChain)
	}

	adminPort, listenPort := freePort(t), freePort(t)
	boot := bootstrap(t, out.Resources, filters, listenPort, adminPort, up.Port())
	env, err := envoyproc.Start(ctx, envoyproc.Options{Bootstrap: boot, AdminPort: adminPort, LogLevel: "warning"})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()

	url := fmt.Sprintf("http://127.0.0.1:%d/order", listenPort)
	var resp *http.Response
	var body []byte
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err = http.DefaultClient.Do(req)
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || time.Now().After(deadline) {
				break
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("request: %v\n%s", err, env.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d (403: RBAC saw another order): %s\n%s", resp.StatusCode, body, env.Log())
	}
	var rep echo.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("echo report: %v: %s", err, body)
	}
	if got, want := rep.Header("x-order"), "authn:-,authz:J,stats:J,unspec:J,"; got != want {
		t.Errorf("request order at the upstream = %q, want %q", got, want)
	}
	if got, want := resp.Header.Get("x-resp"), "4321"; got != want {
		t.Errorf("response order = %q, want %q", got, want)
	}

	// Without a token jwt_authn answers 401: it really sits in the chain.
	r2, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusUnauthorized {
		t.Errorf("without token: status %d, want 401", r2.StatusCode)
	}
}

// patch applies the rendered HTTP_FILTER patches (GATEWAY context) to a native chain, as
// istiod does, and returns the resulting filters.
func patch(t *testing.T, res []istio.Resource, native []*hcmv3.HttpFilter) []*hcmv3.HttpFilter {
	t.Helper()
	var names []string
	byName := map[string]*hcmv3.HttpFilter{}
	for _, f := range native {
		names = append(names, f.GetName())
		byName[f.GetName()] = f
	}
	p := istiotest.Chain{Namespace: "istio-system", Context: networking.EnvoyFilter_GATEWAY, Port: 8080, Chain: names}
	for _, r := range res {
		for _, cp := range r.Spec.GetConfigPatches() {
			if cp.GetApplyTo() != networking.EnvoyFilter_HTTP_FILTER {
				continue
			}
			b, err := protojson.Marshal(cp.GetPatch().GetValue())
			if err != nil {
				t.Fatal(err)
			}
			f := &hcmv3.HttpFilter{}
			if err := protojson.Unmarshal(b, f); err != nil {
				t.Fatal(err)
			}
			byName[f.GetName()] = f
		}
	}
	var out []*hcmv3.HttpFilter
	for _, n := range istiotest.Apply(res, p, "istio-system") {
		out = append(out, byName[n])
	}
	return out
}

func typed(name string, m proto.Message) *hcmv3.HttpFilter {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}}
}

func jwtConfig(jwks string) *jwtv3.JwtAuthentication {
	return &jwtv3.JwtAuthentication{
		Providers: map[string]*jwtv3.JwtProvider{"test": {
			Issuer:               "trafficext-test",
			JwksSourceSpecifier:  &jwtv3.JwtProvider_LocalJwks{LocalJwks: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: jwks}}},
			ForwardPayloadHeader: "x-jwt-payload",
		}},
		Rules: []*jwtv3.RequirementRule{{
			Match:           &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			RequirementType: &jwtv3.RequirementRule_Requires{Requires: &jwtv3.JwtRequirement{RequiresType: &jwtv3.JwtRequirement_ProviderName{ProviderName: "test"}}},
		}},
	}
}

// rbacConfig allows a request only when x-order is exactly want.
func rbacConfig(want string) *rbacv3.RBAC {
	return &rbacv3.RBAC{Rules: &rbacconfigv3.RBAC{
		Action: rbacconfigv3.RBAC_ALLOW,
		Policies: map[string]*rbacconfigv3.Policy{"order": {
			Permissions: []*rbacconfigv3.Permission{{Rule: &rbacconfigv3.Permission_Any{Any: true}}},
			Principals: []*rbacconfigv3.Principal{{Identifier: &rbacconfigv3.Principal_Header{Header: &routev3.HeaderMatcher{
				Name:                 "x-order",
				HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: want}}},
			}}}},
		}},
	}}
}

func bootstrap(t *testing.T, res []istio.Resource, filters []*hcmv3.HttpFilter, listenPort, adminPort, upstreamPort int) string {
	t.Helper()
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: "gateway",
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: "gateway",
			VirtualHosts: []*routev3.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: []*routev3.Route{{
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "upstream"}}},
			}}}},
		}},
		HttpFilters: filters,
	}
	hcmAny, err := anypb.New(hcm)
	if err != nil {
		t.Fatal(err)
	}
	// The trafficext cluster, exactly as rendered.
	b, err := protojson.Marshal(res[0].Spec.GetConfigPatches()[0].GetPatch().GetValue())
	if err != nil {
		t.Fatal(err)
	}
	ecds := &clusterv3.Cluster{}
	if err := protojson.Unmarshal(b, ecds); err != nil {
		t.Fatal(err)
	}
	ecds.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
	// The node of an istiod-bootstrapped ingress gateway: no trafficext metadata.
	meta, err := structpb.NewStruct(map[string]any{"NAMESPACE": "istio-system", "LABELS": map[string]any{"istio": "ingressgateway"}})
	if err != nil {
		t.Fatal(err)
	}
	boot := &bootstrapv3.Bootstrap{
		Node: &corev3.Node{Id: "router~127.0.0.1~istio-ingressgateway-0.istio-system~istio-system.svc.cluster.local",
			Cluster: "istio-ingressgateway", Metadata: meta},
		Admin: &bootstrapv3.Admin{Address: addr("127.0.0.1", adminPort)},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Listeners: []*listenerv3.Listener{{
				Name:    "gateway",
				Address: addr("127.0.0.1", listenPort),
				FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
					Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcmAny},
				}}}},
			}},
			Clusters: []*clusterv3.Cluster{ecds, {
				Name:                 "upstream",
				ConnectTimeout:       durationpb.New(time.Second),
				ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
				LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: "upstream", Endpoints: []*endpointv3.LocalityLbEndpoints{{
					LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: addr("127.0.0.1", upstreamPort)}}}},
				}}},
			}},
		},
	}
	out, err := protojson.Marshal(boot)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func addr(host string, port int) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
	}}}
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := loopback.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// jwtFixture returns an RSA key, an RS256 token it signed and the JWKS that verifies it.
func jwtFixture(t *testing.T) (*rsa.PrivateKey, string, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	header := b64([]byte(`{"alg":"RS256","kid":"k1","typ":"JWT"}`))
	payload := b64([]byte(fmt.Sprintf(`{"iss":"trafficext-test","sub":"tester","exp":%d}`, time.Now().Add(time.Hour).Unix())))
	digest := sha256.Sum256([]byte(header + "." + payload))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	jwks := fmt.Sprintf(`{"keys":[{"kty":"RSA","alg":"RS256","use":"sig","kid":"k1","n":%q,"e":%q}]}`,
		b64(key.N.Bytes()), b64(big.NewInt(int64(key.E)).Bytes()))
	return key, header + "." + payload + "." + b64(sig), jwks
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
