package wasm

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/core"
)

// metricSet holds a plugin's Proxy-Wasm metrics, shared by all its VMs as Envoy's workers
// share stats; how late-defined metrics and root-context changes reach Envoy under the
// dynamic-modules ABI: RATIONALE.md, "Metrics under the dynamic-modules ABI".
type metricSet struct {
	mu      sync.Mutex
	byName  map[string]uint32
	list    []*metric
	pending atomic.Bool
	// posted: a flush is posted to a live stream (reset by every flush).
	posted atomic.Bool
	// late are the labeled stats of metrics defined after load, by kind (ok: defined).
	late   [3]core.MetricID
	lateOK bool
}

// lateMetricNames are the labeled stats of metrics defined after load, by kind.
var lateMetricNames = [3]string{"wasm_late_counter", "wasm_late_gauge", "wasm_late_histogram"}

// defineLate defines the labeled stats of late metrics (while the plugin loads). A host that
// has no labeled metrics leaves late metrics inside the engine.
func (s *metricSet) defineLate(host core.ConfigHost) error {
	lh, ok := host.(core.LabeledMetricsHost)
	if !ok {
		return nil
	}
	for kind, def := range []func(string, []string) (core.MetricID, error){lh.DefineCounterVec, lh.DefineGaugeVec, lh.DefineHistogramVec} {
		id, err := def(lateMetricNames[kind], []string{"name"})
		if err != nil {
			return fmt.Errorf("defining labeled stat %q: %w", lateMetricNames[kind], err)
		}
		s.late[kind] = id
	}
	s.lateOK = true
	return nil
}

type metric struct {
	kind    uint32
	name    string
	envoy   bool
	late    bool // emitted as the label value of metricSet.late[kind]
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
	} else if s.lateOK {
		m.envoy, m.late, m.id = true, true, s.late[kind]
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
		if cm, ok := p.host.(core.ConfigMetrics); ok {
			p.emitConfig(cm, m, delta, hist)
			return
		}
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
	if m.late {
		ls, ok := s.(core.LabeledMetricsStream)
		if !ok {
			return
		}
		label := []string{m.name}
		switch m.kind {
		case metricCounter:
			ls.CounterVec(m.id, label, uint64(delta))
		case metricGauge:
			ls.GaugeVec(m.id, label, delta)
		default:
			ls.HistogramVec(m.id, label, hist)
		}
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

// emitConfig emits a change made outside any stream through a host that takes metric
// changes from the configuration itself.
func (p *plugin) emitConfig(cm core.ConfigMetrics, m *metric, delta int64, hist uint64) {
	if m.late {
		label := []string{m.name}
		switch m.kind {
		case metricCounter:
			cm.ConfigCounterVec(m.id, label, uint64(delta))
		case metricGauge:
			cm.ConfigGaugeVec(m.id, label, delta)
		default:
			cm.ConfigHistogramVec(m.id, label, hist)
		}
		return
	}
	switch m.kind {
	case metricCounter:
		cm.ConfigCounter(m.id, uint64(delta))
	case metricGauge:
		cm.ConfigGauge(m.id, delta)
	default:
		cm.ConfigHistogram(m.id, hist)
	}
}

// emitMetric emits a change made by the VM's current call: through its stream, or else
// kept for a flush that is posted to a live stream of the VM.
func (v *vm) emitMetric(m *metric, delta int64, hist uint64) {
	s := v.stream()
	v.p.emit(s, m, delta, hist)
	if s != nil || !m.envoy || !v.p.metrics.posted.CompareAndSwap(false, true) {
		return
	}
	if _, direct := v.p.host.(core.ConfigMetrics); direct {
		v.p.metrics.posted.Store(false) // emitted already, nothing pending
		return
	}
	for _, f := range v.filters {
		// Post runs on the stream's thread, or not at all once the stream is gone (the
		// change then waits for the next stream event, which also resets posted).
		fs := f.s
		fs.Post(func() { v.p.flushMetrics(fs) })
		return
	}
	v.p.metrics.posted.Store(false)
}

// flushMetrics emits changes made outside any stream.
func (p *plugin) flushMetrics(s core.Stream) {
	p.metrics.posted.Store(false)
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

// stream is the effective stream, through which metrics reach Envoy; none in a call off the
// worker (the updates wait for the next stream event, as the root context's do).
func (v *vm) stream() core.Stream {
	if f := v.currentFilter(); f != nil && !v.cur.offWorker {
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
	return putU32(m, a[3], id)
}

// proxy_increment_metric(id, i64 delta): BAD_ARGUMENT for a negative counter delta or a
// histogram.
func hostIncrementMetric(v *vm, id uint32, delta int64) status {
	mt := v.p.metrics.get(id)
	if mt == nil {
		return statusNotFound
	}
	// A counter moves by a positive offset only (Envoy's Context::incrementMetric: 0 is
	// BAD_ARGUMENT too).
	if mt.kind == metricHistogram || mt.kind == metricCounter && delta <= 0 {
		return statusBadArgument
	}
	mt.value.Add(delta)
	v.emitMetric(mt, delta, 0)
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
		v.emitMetric(mt, int64(value), 0)
	case metricGauge:
		old := mt.value.Swap(int64(value))
		v.emitMetric(mt, int64(value)-old, 0)
	default:
		v.emitMetric(mt, 0, value)
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
