// Package proxyid is the identity an Envoy proxy announces in its xDS node metadata, and from
// which the control plane selects the extensions that proxy receives. The bootstrap writer
// (trafficext run, the conformance drivers, the kind manifests) and the control plane share it.
package proxyid

import (
	"fmt"
	"sort"

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
)

// Identity is what a proxy says about itself.
type Identity struct {
	// ID is the xDS node id; Cluster the node cluster.
	ID, Cluster string
	Mode        Mode
	Namespace   string
	// Labels are the workload labels (for selector matching).
	Labels map[string]string
	// GatewayName is the Gateway resource this proxy implements (targetRefs kind Gateway).
	GatewayName string
	// Services are the services a waypoint serves, as "<namespace>/<name>".
	Services []string
	// Upstream is the address ("host:port") the standalone proxy forwards to; optional.
	Upstream string
}

// Validate checks that the identity is usable for selection.
func (id Identity) Validate() error {
	switch id.Mode {
	case Sidecar, Gateway, Waypoint:
	default:
		return fmt.Errorf("proxy %q: metadata %s: unknown mode %q (want sidecar, gateway or waypoint)", id.ID, keyMode, id.Mode)
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
		s := make([]*structpb.Value, len(id.Services))
		for i, v := range id.Services {
			s[i] = structpb.NewStringValue(v)
		}
		fields[keyServices] = structpb.NewListValue(&structpb.ListValue{Values: s})
	}
	if id.Upstream != "" {
		fields[keyUpstream] = structpb.NewStringValue(id.Upstream)
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
	for _, v := range f[keyServices].GetListValue().GetValues() {
		id.Services = append(id.Services, v.GetStringValue())
	}
	sort.Strings(id.Services)
	return id, id.Validate()
}
