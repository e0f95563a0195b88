package server

import (
	"context"
	"reflect"
	"slices"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trafficext/trafficext/xds/proxyid"
)

func (s *Server) callbacks() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamRequestFunc:  s.onRequest,
		StreamResponseFunc: s.onResponse,
		StreamClosedFunc: func(id int64, _ *corev3.Node) {
			s.mu.Lock()
			delete(s.sent, id)
			s.mu.Unlock()
		},
		StreamDeltaRequestFunc: s.onDeltaRequest,
		DeltaStreamClosedFunc: func(id int64, _ *corev3.Node) {
			s.mu.Lock()
			delete(s.deltaNodes, id)
			s.mu.Unlock()
		},
	}
}

// onRequest builds the proxy's snapshot on first contact (before the cache creates the watch)
// and records NACKs and ACKs.
func (s *Server) onRequest(stream int64, req *discovery.DiscoveryRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := req.GetNode()
	if err := s.contact(n, req.GetResponseNonce() == ""); err != nil {
		return err
	}
	key := nackKey{node: n.GetId(), typeURL: req.GetTypeUrl()}
	if d := req.GetErrorDetail(); d != nil {
		nack := NACK{
			Node: n.GetId(), TypeURL: req.GetTypeUrl(), Resources: slices.Clone(req.GetResourceNames()),
			Message: d.GetMessage(), Time: time.Now(),
		}
		if r, ok := s.sent[stream][req.GetTypeUrl()]; ok && r.nonce == req.GetResponseNonce() {
			nack.Version = r.version
			// The cache answers any request whose version differs from the snapshot's, so a
			// NACK (which carries the last accepted version) would make it resend the rejected
			// configuration at once, forever. Treat the rejected version as the proxy's current
			// one: the next response is the next change.
			req.VersionInfo = r.version
		}
		s.nacks[key] = nack
		s.log.Error("proxy rejected configuration", "node", nack.Node, "type", nack.TypeURL,
			"version", nack.Version, "resources", nack.Resources, "error", nack.Message)
	} else if req.GetResponseNonce() != "" {
		if _, ok := s.nacks[key]; ok {
			delete(s.nacks, key)
			s.log.Info("proxy accepted configuration", "node", key.node, "type", key.typeURL, "version", req.GetVersionInfo())
		}
	}
	return nil
}

// contact identifies a proxy and builds its snapshot when it is new or announces a different
// identity (checked on a stream's first request, fresh); s.mu is held.
func (s *Server) contact(n *corev3.Node, fresh bool) error {
	known := s.nodes[n.GetId()]
	if known != nil && !fresh {
		return nil
	}
	id, err := proxyid.FromNode(n)
	if iid, ok := IstioIdentity(n); err != nil && ok {
		id, err = iid, nil // Istio mode: a proxy istiod bootstrapped (istionode.go)
		s.istioNodes.Store(id.ID, struct{}{})
	}
	if err != nil {
		s.log.Error("rejecting proxy", "node", n.GetId(), "error", err)
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if known == nil || !reflect.DeepEqual(known.id, id) {
		s.log.Info("proxy connected", "node", id.ID, "mode", id.Mode, "namespace", id.Namespace)
		if err := s.build(id); err != nil {
			s.log.Error("building proxy configuration", "node", id.ID, "error", err)
			return status.Error(codes.Internal, err.Error())
		}
	}
	return nil
}

// onDeltaRequest is onRequest for incremental (delta) xDS streams, which a proxy with many
// extensions should use: a state-of-the-world request names every ECDS resource subscribed so
// far, so subscribing to N of them one by one costs both sides O(N²). Only a stream's first
// request carries the node.
func (s *Server) onDeltaRequest(stream int64, req *discovery.DeltaDiscoveryRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := req.GetNode()
	if n == nil {
		n = s.deltaNodes[stream]
	} else {
		s.deltaNodes[stream] = n
	}
	if err := s.contact(n, req.GetNode() != nil); err != nil {
		return err
	}
	key := nackKey{node: n.GetId(), typeURL: req.GetTypeUrl()}
	if d := req.GetErrorDetail(); d != nil {
		nack := NACK{Node: n.GetId(), TypeURL: req.GetTypeUrl(), Message: d.GetMessage(), Time: time.Now()}
		s.nacks[key] = nack
		s.log.Error("proxy rejected configuration", "node", nack.Node, "type", nack.TypeURL, "error", nack.Message)
	} else if req.GetResponseNonce() != "" {
		if _, ok := s.nacks[key]; ok {
			delete(s.nacks, key)
			s.log.Info("proxy accepted configuration", "node", key.node, "type", key.typeURL)
		}
	}
	return nil
}

func (s *Server) onResponse(_ context.Context, stream int64, _ *discovery.DiscoveryRequest, resp *discovery.DiscoveryResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.sent[stream]
	if m == nil {
		m = map[string]sentResponse{}
		s.sent[stream] = m
	}
	m[resp.GetTypeUrl()] = sentResponse{nonce: resp.GetNonce(), version: resp.GetVersionInfo()}
}
