// Package proxyid is the identity an Envoy proxy announces in its xDS node metadata, and from
// which the control plane selects the extensions that proxy receives. The bootstrap writer
// (trafficext run, the conformance drivers, the kind manifests) and the control plane share it.
package proxyid

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// Mode is the kind of proxy, as Istio distinguishes them.
type Mode string

const (
	Sidecar  Mode = "sidecar"
	Gateway  Mode = "gateway"
	Waypoint Mode = "waypoint"
)

// Metadata keys inside node.metadata.
const (
	keyMode        = "TRAFFICEXT_MODE"
	keyNamespace   = "NAMESPACE"
	keyLabels      = "LABELS"
	keyGatewayName = "GATEWAY_NAME"
	keyServices    = "SERVICES"
	keyUpstream    = "TRAFFICEXT_UPSTREAM"
	// Fields of a SERVICES entry given as a struct.
	keyServiceName = "service"
	keyServiceKind = "kind"
	// Listener shapes (standalone proxies announce where their listeners bind).
	keyListen         = "TRAFFICEXT_LISTEN"
	keyInboundListen  = "TRAFFICEXT_INBOUND_LISTEN"
	keyServicePort    = "TRAFFICEXT_SERVICE_PORT"
	keyOutboundTarget = "TRAFFICEXT_OUTBOUND_UPSTREAM"
	keyEndpoints      = "TRAFFICEXT_ENDPOINTS"
	keyTLSCert        = "TRAFFICEXT_TLS_CERT"
	keyTLSKey         = "TRAFFICEXT_TLS_KEY"
	keyTLSCA          = "TRAFFICEXT_TLS_CA"
	keyProtocol       = "TRAFFICEXT_PROTOCOL"
)

// Identity is what a proxy says about itself.
type Identity struct {
	// ID is the xDS node id; Cluster the node cluster.
	ID, Cluster string
	Mode        Mode
	Namespace   string
	// Labels are the workload labels (for selector matching).
	Labels map[string]string
	// GatewayName is the Gateway resource this proxy implements (targetRefs kind Gateway). It
	// stands for the label gateway.networking.k8s.io/gateway-name when Labels lack it: the
	// label, as in istiod, is what makes a proxy a Gateway-API gateway (see GatewayAPIName).
	GatewayName string
	// Services are the services a waypoint serves, as "<namespace>/<name>": Kubernetes Services
	// and ServiceEntries alike.
	Services []string
	// ServiceEntries are the entries of Services that are ServiceEntries (istiod's External
	// registry); the other entries are Kubernetes Services.
	ServiceEntries []string
	// Upstream is the address ("host:port") the standalone proxy forwards to; optional. For a
	// sidecar it is the workload: its port is the target port inbound match ports compare with.
	Upstream string

	// The fields below shape a standalone proxy's listeners; each is optional and the control
	// plane's options give the defaults.

	// Listen is where the main listener binds: the gateway listener, a sidecar's outbound
	// listener, a waypoint's HBONE listener (Istio: 15008).
	Listen string
	// InboundListen is where a sidecar's inbound listener binds (Istio: 15006).
	InboundListen string
	// ServicePort is the service port a sidecar's outbound listener serves; outbound match
	// ports compare with it. 0 means the outbound listener's port.
	ServicePort uint32
	// OutboundUpstream is where a sidecar's outbound listener sends traffic (the service's
	// address); "" means the sidecar's own inbound listener.
	OutboundUpstream string
	// Endpoints maps each service a waypoint serves ("<namespace>/<name>") to the workload
	// address ("host:port") its traffic goes to.
	Endpoints map[string]string
	// TLSCert, TLSKey and TLSCA are the PEM files (on the proxy's file system) of a waypoint's
	// mTLS identity and the CA that signs its peers.
	TLSCert, TLSKey, TLSCA string
	// Protocol is the application protocol of the proxy's listeners: "" (HTTP) or ProtocolTCP
	// (raw TCP: a TCP proxy instead of the HTTP connection manager, so only network extensions
	// apply, as on Istio's TCP listeners).
	Protocol string
}

// ProtocolTCP is Identity.Protocol for raw TCP listeners.
const ProtocolTCP = "tcp"

// LabelGatewayName is the workload label istiod reads a Gateway-API gateway's name from.
const LabelGatewayName = "gateway.networking.k8s.io/gateway-name"

// ServiceKind is the registry a bound service comes from, named by its targetRefs kind.
type ServiceKind string

const (
	KindService      ServiceKind = "Service"
	KindServiceEntry ServiceKind = "ServiceEntry"
)

// GatewayAPIName is the Gateway-API gateway the proxy is an instance of: the value of the
// label gateway.networking.k8s.io/gateway-name, or GatewayName when the labels lack it. ok is
// false when neither is set (istiod then treats the proxy as a non-gateway, whatever its mode).
func (id Identity) GatewayAPIName() (name string, ok bool) {
	if name, ok = id.Labels[LabelGatewayName]; ok {
		return name, true
	}
	return id.GatewayName, id.GatewayName != ""
}

// ServiceKind reports the kind of one of Services.
func (id Identity) ServiceKind(service string) ServiceKind {
	if slices.Contains(id.ServiceEntries, service) {
		return KindServiceEntry
	}
	return KindService
}

// Validate checks that the identity is usable for selection.
func (id Identity) Validate() error {
	switch id.Mode {
	case Sidecar, Gateway, Waypoint:
	default:
		return fmt.Errorf("proxy %q: metadata %s: unknown mode %q (want sidecar, gateway or waypoint)", id.ID, keyMode, id.Mode)
	}
	if id.Protocol != "" && id.Protocol != ProtocolTCP {
		return fmt.Errorf("proxy %q: metadata %s: unknown protocol %q (want %s, or unset for HTTP)", id.ID, keyProtocol, id.Protocol, ProtocolTCP)
	}
	if id.Namespace == "" {
		return fmt.Errorf("proxy %q: metadata %s: must not be empty", id.ID, keyNamespace)
	}
	return nil
}

// Node returns the xDS node that announces the identity.
func (id Identity) Node() *corev3.Node {
	fields := map[string]*structpb.Value{
		keyMode:      structpb.NewStringValue(string(id.Mode)),
		keyNamespace: structpb.NewStringValue(id.Namespace),
	}
	if len(id.Labels) > 0 {
		l := make(map[string]*structpb.Value, len(id.Labels))
		for k, v := range id.Labels {
			l[k] = structpb.NewStringValue(v)
		}
		fields[keyLabels] = structpb.NewStructValue(&structpb.Struct{Fields: l})
	}
	if id.GatewayName != "" {
		fields[keyGatewayName] = structpb.NewStringValue(id.GatewayName)
	}
	if len(id.Services) > 0 {
		fields[keyServices] = structpb.NewListValue(&structpb.ListValue{Values: id.servicesMetadata()})
	}
	if id.Upstream != "" {
		fields[keyUpstream] = structpb.NewStringValue(id.Upstream)
	}
	for k, v := range map[string]string{keyListen: id.Listen, keyInboundListen: id.InboundListen,
		keyOutboundTarget: id.OutboundUpstream, keyTLSCert: id.TLSCert, keyTLSKey: id.TLSKey, keyTLSCA: id.TLSCA, keyProtocol: id.Protocol} {
		if v != "" {
			fields[k] = structpb.NewStringValue(v)
		}
	}
	if id.ServicePort != 0 {
		fields[keyServicePort] = structpb.NewNumberValue(float64(id.ServicePort))
	}
	if len(id.Endpoints) > 0 {
		m := make(map[string]*structpb.Value, len(id.Endpoints))
		for k, v := range id.Endpoints {
			m[k] = structpb.NewStringValue(v)
		}
		fields[keyEndpoints] = structpb.NewStructValue(&structpb.Struct{Fields: m})
	}
	return &corev3.Node{Id: id.ID, Cluster: id.Cluster, Metadata: &structpb.Struct{Fields: fields}}
}

// FromNode reads the identity a proxy announced.
func FromNode(n *corev3.Node) (Identity, error) {
	id := Identity{ID: n.GetId(), Cluster: n.GetCluster()}
	f := n.GetMetadata().GetFields()
	id.Mode = Mode(f[keyMode].GetStringValue())
	id.Namespace = f[keyNamespace].GetStringValue()
	id.GatewayName = f[keyGatewayName].GetStringValue()
	id.Upstream = f[keyUpstream].GetStringValue()
	if l := f[keyLabels].GetStructValue(); l != nil {
		id.Labels = make(map[string]string, len(l.GetFields()))
		for k, v := range l.GetFields() {
			id.Labels[k] = v.GetStringValue()
		}
	}
	id.Listen = f[keyListen].GetStringValue()
	id.InboundListen = f[keyInboundListen].GetStringValue()
	id.OutboundUpstream = f[keyOutboundTarget].GetStringValue()
	id.TLSCert = f[keyTLSCert].GetStringValue()
	id.TLSKey = f[keyTLSKey].GetStringValue()
	id.TLSCA = f[keyTLSCA].GetStringValue()
	id.Protocol = f[keyProtocol].GetStringValue()
	if v, ok := f[keyServicePort]; ok {
		id.ServicePort = servicePort(v)
	}
	if m := f[keyEndpoints].GetStructValue(); m != nil {
		id.Endpoints = make(map[string]string, len(m.GetFields()))
		for k, v := range m.GetFields() {
			id.Endpoints[k] = v.GetStringValue()
		}
	}
	if err := id.readServices(f[keyServices].GetListValue()); err != nil {
		return id, err
	}
	return id, id.Validate()
}

// servicesMetadata writes SERVICES: a Kubernetes Service as the bare string "<namespace>/<name>"
// (the original format, which older control planes read), a ServiceEntry as
// {"service": "<namespace>/<name>", "kind": "ServiceEntry"}.
func (id Identity) servicesMetadata() []*structpb.Value {
	out := make([]*structpb.Value, len(id.Services))
	for i, s := range id.Services {
		if id.ServiceKind(s) == KindService {
			out[i] = structpb.NewStringValue(s)
			continue
		}
		out[i] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			keyServiceName: structpb.NewStringValue(s), keyServiceKind: structpb.NewStringValue(string(KindServiceEntry)),
		}})
	}
	return out
}

// readServices reads SERVICES: each entry a bare "<namespace>/<name>" (a Kubernetes Service) or
// a struct with "service" and "kind" (Service or ServiceEntry; omitted means Service).
func (id *Identity) readServices(l *structpb.ListValue) error {
	for i, v := range l.GetValues() {
		name, kind := v.GetStringValue(), KindService
		if st := v.GetStructValue(); st != nil {
			f := st.GetFields()
			name = f[keyServiceName].GetStringValue()
			if k := f[keyServiceKind].GetStringValue(); k != "" {
				kind = ServiceKind(k)
			}
		}
		ns, n, ok := strings.Cut(name, "/")
		if !ok || ns == "" || n == "" || strings.Contains(n, "/") {
			return fmt.Errorf("proxy %q: metadata %s[%d]: service %q: want \"<namespace>/<name>\"", id.ID, keyServices, i, name)
		}
		switch kind {
		case KindService:
		case KindServiceEntry:
			id.ServiceEntries = append(id.ServiceEntries, name)
		default:
			return fmt.Errorf("proxy %q: metadata %s[%d].%s: unknown kind %q (want Service or ServiceEntry)", id.ID, keyServices, i, keyServiceKind, kind)
		}
		id.Services = append(id.Services, name)
	}
	sort.Strings(id.Services)
	sort.Strings(id.ServiceEntries)
	return nil
}

// servicePort reads a port given as a number or as a decimal string (Envoy bootstraps written
// by hand often quote it); anything else is 0.
func servicePort(v *structpb.Value) uint32 {
	n := v.GetNumberValue()
	if s := v.GetStringValue(); s != "" {
		p, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return 0
		}
		return uint32(p)
	}
	if n < 0 || n > 65535 || n != float64(uint32(n)) {
		return 0
	}
	return uint32(n)
}
