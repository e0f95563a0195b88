// Package server is the ADS server: a go-control-plane snapshot cache keyed by node id, one
// snapshot per proxy, rebuilt from the current extension set whenever it changes or a proxy
// connects for the first time (or announces a different identity).
//
// Every resource type carries its own version, a hash of its content, so a change confined to
// one extension's code or config changes only the ECDS version: Envoy gets no LDS, RDS or CDS
// push and keeps its listener and connections. NACKs from Envoy are logged and kept in the
// status until the same proxy acknowledges that type again.
package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"sync"
	"time"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	extensionservice "github.com/envoyproxy/go-control-plane/envoy/service/extension/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	cplog "github.com/envoyproxy/go-control-plane/pkg/log"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/translate"
)

// DefaultAddress is where the ADS server listens by default.
const DefaultAddress = "127.0.0.1:18000"

// Options configure a Server.
type Options struct {
	// Address is the listen address for ListenAndServe; "" means DefaultAddress.
	Address string
	// Translate shapes the generated resources.
	Translate translate.Options
	// Logger receives connection, NACK and translation messages; nil discards them.
	Logger *slog.Logger
}

// Server serves per-proxy snapshots over ADS.
type Server struct {
	opts  Options
	log   *slog.Logger
	cache cache.SnapshotCache

	mu       sync.Mutex
	exts     []*model.Extension
	nodes    map[string]*node
	nacks    map[nackKey]NACK
	sent     map[int64]map[string]sentResponse // stream id → type URL → last response
	problems map[string]bool                   // translation problems already logged
}

type node struct {
	id       proxyid.Identity
	versions map[string]string
	chain    []string
}

type nackKey struct{ node, typeURL string }

type sentResponse struct{ nonce, version string }

// NACK is a configuration Envoy rejected.
type NACK struct {
	Node    string
	TypeURL string
	// Version is the rejected version (when known); Resources the names the proxy asked for.
	Version   string
	Resources []string
	Message   string
	Time      time.Time
}

// NodeStatus is what the server last built for one proxy.
type NodeStatus struct {
	Identity proxyid.Identity
	// Versions maps a type URL to the version served.
	Versions map[string]string
	// Chain lists the extension filter names in chain order.
	Chain []string
}

// New returns a server serving nothing until Update is called.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:     opts,
		log:      log,
		nodes:    map[string]*node{},
		nacks:    map[nackKey]NACK{},
		sent:     map[int64]map[string]sentResponse{},
		problems: map[string]bool{},
	}
	s.cache = cache.NewSnapshotCache(true, cache.IDHash{}, cplog.LoggerFuncs{
		DebugFunc: func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) },
		InfoFunc:  func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) },
		WarnFunc:  func(f string, a ...any) { log.Warn(fmt.Sprintf(f, a...)) },
		ErrorFunc: func(f string, a ...any) { log.Error(fmt.Sprintf(f, a...)) },
	})
	return s
}

// Update replaces the set of valid extensions and rebuilds the snapshot of every known proxy.
func (s *Server) Update(exts []*model.Extension) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exts = slices.Clone(exts)
	ids := make([]string, 0, len(s.nodes))
	for id := range s.nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := s.build(s.nodes[id].id); err != nil {
			s.log.Error("building proxy configuration", "node", id, "error", err)
		}
	}
}

// build computes and installs one proxy's snapshot; s.mu is held.
func (s *Server) build(id proxyid.Identity) error {
	res, err := translate.Proxy(id, s.exts, s.opts.Translate)
	if err != nil {
		return err
	}
	for _, p := range res.Problems {
		if msg := p.Error(); !s.problems[msg] {
			s.problems[msg] = true
			s.log.Warn(msg)
		}
	}
	snap, versions, err := Snapshot(res)
	if err != nil {
		return err
	}
	if err := s.cache.SetSnapshot(context.Background(), id.ID, snap); err != nil {
		return fmt.Errorf("setting snapshot: %w", err)
	}
	prev := s.nodes[id.ID]
	if prev == nil || !maps(prev.versions, versions) {
		s.log.Info("proxy configuration", "node", id.ID, "chain", res.Chain,
			"lds", versions[typeURL(types.Listener)], "ecds", versions[typeURL(types.ExtensionConfig)])
	}
	s.nodes[id.ID] = &node{id: id, versions: versions, chain: res.Chain}
	return nil
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func typeURL(t types.ResponseType) string {
	u, _ := cache.GetResponseTypeURL(t)
	return u
}

// Snapshot turns a translation into a cache snapshot whose per-type versions are hashes of the
// content, and returns those versions by type URL.
func Snapshot(res *translate.Result) (*cache.Snapshot, map[string]string, error) {
	snap := &cache.Snapshot{}
	versions := map[string]string{}
	set := func(t types.ResponseType, items []types.Resource) error {
		v, err := Version(items)
		if err != nil {
			return err
		}
		snap.Resources[t] = cache.NewResources(v, items)
		versions[typeURL(t)] = v
		return nil
	}
	var errs []error
	errs = append(errs, set(types.Listener, resources(res.Listeners)))
	errs = append(errs, set(types.Route, resources(res.Routes)))
	errs = append(errs, set(types.Cluster, resources(res.Clusters)))
	errs = append(errs, set(types.ExtensionConfig, resources(res.ExtensionConfigs)))
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	if err := snap.Consistent(); err != nil {
		return nil, nil, fmt.Errorf("inconsistent snapshot: %w", err)
	}
	return snap, versions, nil
}

func resources[T types.Resource](in []T) []types.Resource {
	out := make([]types.Resource, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}

// Version is a hash of the resources' deterministic encoding, in name order.
func Version(items []types.Resource) (string, error) {
	sorted := slices.Clone(items)
	sort.Slice(sorted, func(i, j int) bool { return cache.GetResourceName(sorted[i]) < cache.GetResourceName(sorted[j]) })
	h := sha256.New()
	for _, r := range sorted {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			return "", fmt.Errorf("marshaling %s: %w", cache.GetResourceName(r), err)
		}
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// ListenAndServe listens on Options.Address and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	addr := s.opts.Address
	if addr == "" {
		addr = DefaultAddress
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for xDS: %w", err)
	}
	return s.Serve(ctx, lis)
}

// Serve serves ADS (and the per-type LDS, RDS, CDS and ECDS services) on lis until ctx ends.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	xds := serverv3.NewServer(ctx, s.cache, s.callbacks())
	g := grpc.NewServer()
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, xds)
	listenerservice.RegisterListenerDiscoveryServiceServer(g, xds)
	routeservice.RegisterRouteDiscoveryServiceServer(g, xds)
	clusterservice.RegisterClusterDiscoveryServiceServer(g, xds)
	extensionservice.RegisterExtensionConfigDiscoveryServiceServer(g, xds)
	s.log.Info("xDS server listening", "address", lis.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(lis) }()
	select {
	case <-ctx.Done():
		g.Stop()
		<-errc
		return nil
	case err := <-errc:
		return fmt.Errorf("serving xDS: %w", err)
	}
}

// NACKs returns the rejections not yet followed by an acknowledgement, oldest first.
func (s *Server) NACKs() []NACK {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]NACK, 0, len(s.nacks))
	for _, n := range s.nacks {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Nodes returns what was last built for each proxy that connected, by node id.
func (s *Server) Nodes() map[string]NodeStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]NodeStatus, len(s.nodes))
	for id, n := range s.nodes {
		v := make(map[string]string, len(n.versions))
		for k, x := range n.versions {
			v[k] = x
		}
		out[id] = NodeStatus{Identity: n.id, Versions: v, Chain: slices.Clone(n.chain)}
	}
	return out
}
