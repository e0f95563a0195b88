package server

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"istio.io/api/extensions/v1alpha1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/proxyid"
)

// The scale fixture: 100 namespaces of 10 sidecars each (1,000 proxies, labels app=app<i%5>)
// and 300 extensions: 10 mesh-wide ones in the root namespace, and per namespace one
// namespace-wide extension and one selecting app0 (290 + 10 = 300 with a few namespaces
// holding an extra one). Every proxy receives 10-13 extensions.
const (
	scaleNamespaces = 100
	scaleProxies    = 1000
	scaleExtCount   = 300
)

// scaleIdentities are 500 workloads of 2 replicas each (replicas share namespace and labels),
// or, distinct, 1,000 workloads of one replica (the worst case: nothing shared).
func scaleIdentities(distinct bool) []proxyid.Identity {
	ids := make([]proxyid.Identity, scaleProxies)
	for i := range ids {
		ns := fmt.Sprintf("ns%d", i%scaleNamespaces)
		ids[i] = proxyid.Identity{
			ID: fmt.Sprintf("sidecar-%d.%s", i, ns), Mode: proxyid.Sidecar, Namespace: ns,
			Labels: map[string]string{"app": fmt.Sprintf("app%d", (i/scaleNamespaces)%5)},
		}
		if distinct {
			ids[i].Labels["workload"] = fmt.Sprint(i)
		}
	}
	return ids
}

func scaleExtension(ns, name, code string, sel map[string]string, prio int32) *model.Extension {
	e := &model.Extension{
		Key:               model.Key{Namespace: ns, Name: name},
		CreationTimestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		ResourceVersion:   code,
		Spec: &v1alpha1.TrafficExtension{
			Phase:        v1alpha1.TrafficExtension_ExecutionPhase(len(name) % 4),
			Priority:     wrapperspb.Int32(prio),
			FilterConfig: &v1alpha1.TrafficExtension_Lua{Lua: &v1alpha1.LuaConfig{InlineCode: code}},
		},
	}
	if sel != nil {
		e.Spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: sel}
	}
	return e
}

func scaleExtensions() []*model.Extension {
	var out []*model.Extension
	code := func(n int) string {
		return fmt.Sprintf("function envoy_on_request(h) h:headers():add('x-ext', '%d') end", n)
	}
	for i := 0; i < 10; i++ {
		out = append(out, scaleExtension("istio-system", fmt.Sprintf("mesh-%d", i), code(len(out)), nil, int32(i)))
	}
	for i := 0; len(out) < scaleExtCount; i++ {
		ns := fmt.Sprintf("ns%d", i%scaleNamespaces)
		switch i / scaleNamespaces {
		case 0:
			out = append(out, scaleExtension(ns, "ns-wide", code(len(out)), nil, 0))
		case 1:
			out = append(out, scaleExtension(ns, "app0-only", code(len(out)), map[string]string{"app": "app0"}, 5))
		default:
			out = append(out, scaleExtension(ns, fmt.Sprintf("extra-%d", i), code(len(out)), map[string]string{"app": "app1"}, 1))
		}
	}
	return out
}

// connect registers a proxy as its first ADS request would.
func connect(tb testing.TB, s *Server, id proxyid.Identity) {
	tb.Helper()
	req := &discovery.DiscoveryRequest{Node: id.Node(), TypeUrl: resource.ListenerType}
	if err := s.onRequest(1, req); err != nil {
		tb.Fatal(err)
	}
}

func scaleServer(tb testing.TB, distinct bool) (*Server, []*model.Extension) {
	tb.Helper()
	s := New(Options{})
	exts := scaleExtensions()
	s.Update(exts)
	for _, id := range scaleIdentities(distinct) {
		connect(tb, s, id)
	}
	return s, exts
}

// BenchmarkScale_Full is a full translation: every one of the 1,000 proxies rebuilt from the
// 300 extensions (what happens when the translation options or the whole set change).
func BenchmarkScale_Full(b *testing.B) {
	benchFull(b, false)
}

// BenchmarkScale_FullDistinct is BenchmarkScale_Full with 1,000 distinct workloads.
func BenchmarkScale_FullDistinct(b *testing.B) {
	benchFull(b, true)
}

func benchFull(b *testing.B, distinct bool) {
	s, exts := scaleServer(b, distinct)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Rebuild(exts)
	}
}

// BenchmarkScale_IncrementalNamespace changes one namespace-scoped extension: only the 10
// proxies of that namespace are rebuilt.
func BenchmarkScale_IncrementalNamespace(b *testing.B) {
	benchIncremental(b, 10+17, false) // ns17/ns-wide
}

// BenchmarkScale_IncrementalMeshWide changes one mesh-wide extension: all 1,000 proxies are
// affected.
func BenchmarkScale_IncrementalMeshWide(b *testing.B) {
	benchIncremental(b, 3, false) // istio-system/mesh-3
}

// BenchmarkScale_IncrementalMeshWideDistinct: the same with 1,000 distinct workloads.
func BenchmarkScale_IncrementalMeshWideDistinct(b *testing.B) {
	benchIncremental(b, 3, true)
}

func benchIncremental(b *testing.B, idx int, distinct bool) {
	s, exts := scaleServer(b, distinct)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next := append([]*model.Extension(nil), exts...)
		old := next[idx]
		code := fmt.Sprintf("function envoy_on_request(h) h:headers():add('x-v', '%d') end", i)
		next[idx] = scaleExtension(old.Namespace, old.Name, code, old.Spec.GetSelector().GetMatchLabels(), old.Spec.GetPriority().GetValue())
		s.Update(next)
	}
}

// TestScale_Memory reports the heap held by a server with 1,000 proxies and 300 extensions.
func TestScale_Memory(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, _ := scaleServer(t, true)
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := s.Nodes()
	if len(n) != scaleProxies {
		t.Fatalf("nodes = %d", len(n))
	}
	t.Logf("heap held for %d proxies x %d extensions: %.1f MiB", scaleProxies, scaleExtCount,
		float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))
	runtime.KeepAlive(s)
}
