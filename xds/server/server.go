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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	stdmaps "maps"
	"net"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	extensionservice "github.com/envoyproxy/go-control-plane/envoy/service/extension/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/policy"
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
	// istioCache serves Istio-mode proxies (istioNodes: node id → struct{}).
	istioCache cache.SnapshotCache
	istioNodes sync.Map

	mu    sync.Mutex
	exts  []*model.Extension
	nodes map[string]*node
	nacks map[nackKey]NACK
	sent  map[int64]map[string]sentResponse // stream id → type URL → last response
	// deltaNodes: delta stream id → the node its first request announced.
	deltaNodes map[int64]*corev3.Node
	problems   map[string]bool      // translation problems already logged
	modules    map[model.Key]string // Wasm extension → module resolution at the last Update
}

type node struct {
	id       proxyid.Identity
	versions map[string]string
	chain    []string
	// configs are the ECDS resources served (for the status: module digests).
	configs []*corev3.TypedExtensionConfig
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
		opts:       opts,
		log:        log,
		nodes:      map[string]*node{},
		nacks:      map[nackKey]NACK{},
		sent:       map[int64]map[string]sentResponse{},
		deltaNodes: map[int64]*corev3.Node{},
		problems:   map[string]bool{},
	}
	logger := cacheLogger(log) // logging.go
	s.cache = cache.NewSnapshotCache(true, cache.IDHash{}, logger)
	s.istioCache = cache.NewSnapshotCache(false, cache.IDHash{}, logger)
	return s
}

// Cache keys of the mux: proxies of ours use ADS; Istio-mode proxies (istionode.go) open one
// ECDS stream per filter, each naming one resource, which an ADS-mode cache never answers.
const (
	adsCache   = "ads"
	istioCache = "istio"
)

// muxCache routes each request to the cache of its proxy's kind.
func (s *Server) muxCache() *cache.MuxCache {
	classify := func(n interface{ GetId() string }) string {
		if _, ok := s.istioNodes.Load(n.GetId()); ok {
			return istioCache
		}
		return adsCache
	}
	return &cache.MuxCache{
		Classify:      func(r *cache.Request) string { return classify(r.GetNode()) },
		ClassifyDelta: func(r *cache.DeltaRequest) string { return classify(r.GetNode()) },
		Caches:        map[string]cache.Cache{adsCache: s.cache, istioCache: s.istioCache},
	}
}

// cacheOf returns the cache a proxy is served from.
func (s *Server) cacheOf(nodeID string) cache.SnapshotCache {
	if _, ok := s.istioNodes.Load(nodeID); ok {
		return s.istioCache
	}
	return s.cache
}

// Rebuild replaces the set of valid extensions and rebuilds the snapshot of every known proxy.
func (s *Server) Rebuild(exts []*model.Extension) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setExtensions(exts)
	s.buildAll(s.nodeIDs(nil))
}

// setExtensions stores a copy of exts sorted by creation, which policy uses without sorting
// again for every proxy; s.mu is held.
func (s *Server) setExtensions(exts []*model.Extension) {
	s.exts = slices.Clone(exts)
	policy.SortByCreation(s.exts)
}

// Update replaces the set of valid extensions and rebuilds the snapshots of the proxies the
// change can affect: those to which an added, removed or changed extension (its old or its
// new version) attaches. An update that changes no extension rebuilds every proxy, since what
// the extensions translate to may have changed (a Wasm module fetched again, for example).
//
// What a Wasm extension translates to also depends on its module (fetched, verified, or not
// available): Update resolves every Wasm extension's module and counts an extension whose
// resolution changed as changed.
func (s *Server) Update(exts []*model.Extension) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := changedExtensions(s.exts, exts)
	changed = append(changed, s.moduleChanges(exts)...)
	s.setExtensions(exts)
	if len(changed) == 0 {
		s.buildAll(s.nodeIDs(nil))
		return
	}
	popts := s.opts.Translate.Policy
	ids := s.nodeIDs(func(id proxyid.Identity) bool {
		for _, e := range changed {
			if policy.Affects(id, e, popts) {
				return true
			}
		}
		return false
	})
	keys := map[string]bool{} // changed holds an old and a new version of an edited resource
	for _, e := range changed {
		keys[e.Key.String()] = true
	}
	s.log.Info("extensions changed", "resources", len(keys), "proxies", len(ids))
	s.log.Debug("extensions changed", "resources", slices.Sorted(stdmaps.Keys(keys)))
	s.buildAll(ids)
}

// moduleChanges resolves the module of every Wasm extension and returns those whose result
// (local path, digest or error) differs from the previous update's; s.mu is held.
func (s *Server) moduleChanges(exts []*model.Extension) []*model.Extension {
	r := s.opts.Translate.Wasm
	if r == nil {
		r = translate.FileResolver{}
	}
	next := make(map[model.Key]string, len(s.modules))
	var out []*model.Extension
	for _, e := range exts {
		if e.Spec.GetWasm() == nil {
			continue
		}
		path, sum, err := r.Resolve(e)
		fp := path + "|" + sum
		if err != nil {
			fp += "|" + err.Error()
		}
		next[e.Key] = fp
		if prev, ok := s.modules[e.Key]; ok && prev != fp {
			out = append(out, e)
		}
	}
	s.modules = next
	return out
}

// changedExtensions returns the versions (old and new) of every extension that was added,
// removed or changed between two sets.
func changedExtensions(old, next []*model.Extension) []*model.Extension {
	prev := make(map[model.Key]*model.Extension, len(old))
	for _, e := range old {
		prev[e.Key] = e
	}
	var out []*model.Extension
	for _, e := range next {
		p, ok := prev[e.Key]
		delete(prev, e.Key)
		if ok && sameExtension(p, e) {
			continue
		}
		out = append(out, e)
		if ok {
			out = append(out, p)
		}
	}
	for _, p := range prev {
		out = append(out, p)
	}
	return out
}

// sameExtension reports whether two versions of a resource translate the same: the same
// content version (a hash of the document, or the Kubernetes resourceVersion), or, without
// one, equal metadata and spec.
func sameExtension(a, b *model.Extension) bool {
	if a == b {
		return true
	}
	if a.ResourceVersion != "" || b.ResourceVersion != "" {
		return a.ResourceVersion == b.ResourceVersion && a.CreationTimestamp.Equal(b.CreationTimestamp)
	}
	return a.CreationTimestamp.Equal(b.CreationTimestamp) && stdmaps.Equal(a.Annotations, b.Annotations) &&
		proto.Equal(a.Spec, b.Spec)
}

// nodeIDs returns the ids of the known proxies that keep says to rebuild (all when nil), in
// order; s.mu is held.
func (s *Server) nodeIDs(keep func(proxyid.Identity) bool) []string {
	ids := make([]string, 0, len(s.nodes))
	for id, n := range s.nodes {
		if keep == nil || keep(n.id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// buildAll rebuilds the given proxies, translating on every CPU; s.mu is held. Proxies that
// translate alike — identities equal but for node id, cluster and labels, and the same
// extensions attached (replicas of a workload, workloads a namespace treats alike) — are
// translated once and share the snapshot.
func (s *Server) buildAll(ids []string) {
	first := map[string]int{} // shape → index in uniq
	var uniq []proxyid.Identity
	group := make([]int, len(ids))
	for i, id := range ids {
		n := s.nodes[id].id
		k := s.shapeKey(n)
		j, ok := first[k]
		if !ok {
			j = len(uniq)
			first[k] = j
			uniq = append(uniq, n)
		}
		group[i] = j
	}
	shared := make([]*built, len(uniq))
	// One round: every shape's chain reuses the ECDS resources built for the others.
	memo := translate.NewMemo()
	workers := min(runtime.GOMAXPROCS(0), len(uniq))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for j := range next {
				shared[j] = s.compute(uniq[j], memo)
			}
		})
	}
	for j := range uniq {
		next <- j
	}
	close(next)
	wg.Wait()
	for i, id := range ids {
		b := *shared[group[i]]
		b.id = s.nodes[id].id
		if err := s.install(&b); err != nil {
			s.log.Error("building proxy configuration", "node", id, "error", err)
		}
	}
}

// shapeKey identifies what a proxy's translation depends on: its identity without node id
// (unless the callout gateway is named per proxy), cluster and labels (labels matter only for which extensions attach), and the extensions that
// attach to it; s.mu is held.
func (s *Server) shapeKey(id proxyid.Identity) string {
	var b strings.Builder
	for _, e := range policy.Attached(id, s.exts, s.opts.Translate.Policy) {
		b.WriteString(e.Namespace + "/" + e.Name + "\n")
	}
	if !translate.CalloutGatewayPerProxy(s.opts.Translate.CalloutGateway) {
		id.ID = ""
	}
	id.Cluster, id.Labels = "", nil
	j, _ := json.Marshal(id) // maps are marshaled with sorted keys
	b.Write(j)
	return b.String()
}

// built is one proxy's translation, ready to install.
type built struct {
	id       proxyid.Identity
	res      *translate.Result
	snap     *cache.Snapshot
	versions map[string]string
	err      error
}

// compute translates one proxy (memo: shared with the other proxies of the round, or nil); it
// reads only s.exts and s.opts, so several may run at once.
func (s *Server) compute(id proxyid.Identity, memo *translate.Memo) *built {
	b := &built{id: id}
	opts := s.opts.Translate
	opts.Memo = memo
	b.res, b.err = translate.Proxy(id, s.exts, opts)
	if b.err == nil {
		b.snap, b.versions, b.err = snapshot(b.res, false)
	}
	return b
}

// build computes and installs one proxy's snapshot; s.mu is held.
func (s *Server) build(id proxyid.Identity) error { return s.install(s.compute(id, nil)) }

// install sets a computed snapshot in the cache and records it; s.mu is held.
func (s *Server) install(b *built) error {
	if b.err != nil {
		return b.err
	}
	id, res, versions := b.id, b.res, b.versions
	for _, p := range res.Problems {
		if msg := p.Error(); !s.problems[msg] {
			s.problems[msg] = true
			s.log.Warn(msg)
		}
	}
	if err := s.cacheOf(id.ID).SetSnapshot(context.Background(), id.ID, b.snap); err != nil {
		return fmt.Errorf("setting snapshot: %w", err)
	}
	prev := s.nodes[id.ID]
	if prev == nil || !maps(prev.versions, versions) {
		// One line per push; the chain (one name per extension) only at debug.
		s.log.Info("proxy configuration", "node", id.ID, "extensions", len(res.Chain),
			"lds", versions[typeURL(types.Listener)], "ecds", versions[typeURL(types.ExtensionConfig)])
		s.log.Debug("proxy chain", "node", id.ID, "chain", res.Chain)
	}
	s.nodes[id.ID] = &node{id: id, versions: versions, chain: res.Chain, configs: res.ExtensionConfigs}
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
	return snapshot(res, true)
}

// snapshot is Snapshot, with the reference check (which decodes every listener again) only
// when consistent is set: the server skips it on its hot path, translate builds consistent
// snapshots by construction (TestServer_SnapshotsConsistent checks it).
func snapshot(res *translate.Result, check bool) (*cache.Snapshot, map[string]string, error) {
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
	if !check {
		return snap, versions, nil
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
	xds := serverv3.NewServer(ctx, s.muxCache(), s.callbacks())
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
