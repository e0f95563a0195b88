package server

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/trafficext/trafficext/xds/proxyid"
)

// Istio labels that identify Gateway-API gateways and waypoints.
const (
	labelGatewayName  = "gateway.networking.k8s.io/gateway-name"
	labelGatewayClass = "gateway.networking.k8s.io/gateway-class-name"
)

// IstioIdentity reads the identity of a proxy that istiod bootstrapped (Istio mode: the proxy
// reaches this server only for ECDS, through the cluster `trafficext istio render` adds). The
// node id is "<type>~<ip>~<pod>.<ns>~<ns>.svc.<domain>" with type sidecar, router (gateways)
// or waypoint; the metadata carries NAMESPACE and LABELS like ours. ok is false for other
// nodes.
func IstioIdentity(n *corev3.Node) (id proxyid.Identity, ok bool) {
	typ, rest, found := strings.Cut(n.GetId(), "~")
	if !found || strings.Count(rest, "~") != 2 {
		return proxyid.Identity{}, false
	}
	f := n.GetMetadata().GetFields()
	id = proxyid.Identity{ID: n.GetId(), Cluster: n.GetCluster(), Namespace: f["NAMESPACE"].GetStringValue()}
	if id.Namespace == "" {
		domain := strings.Split(rest, "~")[2] // <ns>.svc.<cluster domain>
		id.Namespace, _, _ = strings.Cut(domain, ".")
	}
	if l := f["LABELS"].GetStructValue(); l != nil {
		id.Labels = make(map[string]string, len(l.GetFields()))
		for k, v := range l.GetFields() {
			id.Labels[k] = v.GetStringValue()
		}
	}
	id.GatewayName = id.Labels[labelGatewayName]
	switch {
	case typ == "waypoint" || id.Labels[labelGatewayClass] == "istio-waypoint":
		id.Mode = proxyid.Waypoint
	case typ == "router":
		id.Mode = proxyid.Gateway
	case typ == "sidecar":
		id.Mode = proxyid.Sidecar
	default:
		return proxyid.Identity{}, false
	}
	return id, id.Validate() == nil
}
