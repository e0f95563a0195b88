package wasm

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/filter/core"
)

// metricSet holds a plugin's Proxy-Wasm metrics.
//
// The dynamic-modules ABI defines stats only while a filter configuration is created, and
// emits them only through a stream. So a metric defined while the plugin loads (on_vm_start,
// on_configure — where SDKs usually define them) is a real Envoy stat; one defined later lives
// only inside the engine (proxy_get_metric still works). Values changed outside a stream (tick,
// queue) are emitted at the plugin's next stream event. Every VM of a plugin shares the set,
// as Envoy's workers share stats.
type metricSet struct {
	mu      sync.Mutex
	byName  map[string]uint32
	list    []*metric
	pending atomic.Bool
}

type metric struct {
	kind    uint32
	name    string
	envoy   bool
	id      core.MetricID
	value   atomic.Int64
	pending atomic.Int64 // delta not yet emitted to Envoy
	hist    []uint64     // histogram values not yet emitted (guarded by metricSet.mu)
}

func newMetricSet() *metricSet { return &metricSet{byName: map[string]uint32{}} }

func (s *metricSet) get(id uint32) *metric {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == 0 || int(id) > len(s.list) {
		return nil
	}
	return s.list[id-1]
}

func (s *metricSet) define(host core.ConfigHost, kind uint32, name string) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.byName[name]; ok {
		return id, nil
	}
	m := &metric{kind: kind, name: name}
	if host != nil {
		var err error
		switch kind {
		case metricCounter:
			m.id, err = host.DefineCounter(name)
		case metricGauge:
			m.id, err = host.DefineGauge(name)
		default:
			m.id, err = host.DefineHistogram(name)
		}
		if err != nil {
			return 0, err
		}
		m.envoy = true
	}
	s.list = append(s.list, m)
	id := uint32(len(s.list))
	s.byName[name] = id
	return id, nil
}

// emit sends a change to Envoy through s, or keeps it for the next stream event.
func (p *plugin) emit(s core.Stream, m *metric, delta int64, hist uint64) {
	if !m.envoy {
		return
	}
	if s == nil {
		if m.kind == metricHistogram {
			p.metrics.mu.Lock()
			if len(m.hist) < 1024 {
				m.hist = append(m.hist, hist)
			}
			p.metrics.mu.Unlock()
		} else {
			m.pending.Add(delta)
		}
		p.metrics.pending.Store(true)
		return
	}
	switch m.kind {
	case metricCounter:
		s.Counter(m.id, uint64(delta))
	case metricGauge:
		s.Gauge(m.id, delta)
	default:
		s.Histogram(m.id, hist)
	}
}

// flushMetrics emits changes made outside any stream.
func (p *plugin) flushMetrics(s core.Stream) {
	if !p.metrics.pending.Load() || !p.metrics.pending.CompareAndSwap(true, false) {
		return
	}
	p.metrics.mu.Lock()
	list := append([]*metric{}, p.metrics.list...)
	var hists [][]uint64
	for _, m := range list {
		hists = append(hists, m.hist)
		m.hist = nil
	}
	p.metrics.mu.Unlock()
	for i, m := range list {
		if d := m.pending.Swap(0); d != 0 {
			p.emit(s, m, d, 0)
		}
		for _, h := range hists[i] {
			p.emit(s, m, 0, h)
		}
	}
}

func (v *vm) stream() core.Stream {
	if f := v.currentFilter(); f != nil {
		return f.s
	}
	return nil
}

// proxy_define_metric(type, name, name_size, return_id).
func hostDefineMetric(_ context.Context, v *vm, m api.Module, a []uint32) status {
	if a[0] > metricHistogram {
		return statusBadArgument
	}
	name, ok := readString(m, a[1], a[2])
	if !ok {
		return statusInvalidMemory
	}
	id, err := v.p.metrics.define(v.configHost, a[0], name)
	if err != nil {
		v.log(core.LogWarn, "defining metric "+name+": "+err.Error())
		return statusInternalFailure
	}
	if !writeU32(m, a[3], id) {
		return statusInvalidMemory
	}
	return statusOK
}

// proxy_increment_metric(id, i64 delta): BAD_ARGUMENT for a negative counter delta or a
// histogram.
func hostIncrementMetric(v *vm, id uint32, delta int64) status {
	mt := v.p.metrics.get(id)
	if mt == nil {
		return statusNotFound
	}
	if mt.kind == metricHistogram || mt.kind == metricCounter && delta < 0 {
		return statusBadArgument
	}
	mt.value.Add(delta)
	v.p.emit(v.stream(), mt, delta, 0)
	return statusOK
}

// proxy_record_metric(id, u64 value): counter += value, gauge = value, histogram records.
func hostRecordMetric(v *vm, id uint32, value uint64) status {
	mt := v.p.metrics.get(id)
	if mt == nil {
		return statusNotFound
	}
	switch mt.kind {
	case metricCounter:
		mt.value.Add(int64(value))
		v.p.emit(v.stream(), mt, int64(value), 0)
	case metricGauge:
		old := mt.value.Swap(int64(value))
		v.p.emit(v.stream(), mt, int64(value)-old, 0)
	default:
		v.p.emit(v.stream(), mt, 0, value)
	}
	return statusOK
}

// proxy_get_metric(id, return_u64).
func hostGetMetric(_ context.Context, v *vm, m api.Module, a []uint32) status {
	mt := v.p.metrics.get(a[0])
	if mt == nil {
		return statusNotFound
	}
	if mt.kind == metricHistogram {
		return statusBadArgument
	}
	if !m.Memory().WriteUint64Le(a[1], uint64(mt.value.Load())) {
		return statusInvalidMemory
	}
	return statusOK
}
