package wasm

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/core"
)

// metricSet holds the Proxy-Wasm metrics of a VM group: ids are VM-wide (every root
// context of a VM sees the same ids, as in Envoy) and values are shared by all VMs, as
// Envoy's workers share stats. Each plugin reaches Envoy through stats of its own
// configuration (pluginMetrics); how late-defined metrics and root-context changes reach
// Envoy under the dynamic-modules ABI: RATIONALE.md, "Metrics under the dynamic-modules ABI".
type metricSet struct {
	mu      sync.Mutex
	byName  map[string]uint32
	list    []*metric
	pending atomic.Bool
	// posted: a flush is posted to a live stream (reset by every flush).
	posted atomic.Bool
	// hasCatchup: a metric has a catch-up delta (metric.catchup).
	hasCatchup atomic.Bool
}

// pluginMetrics are one plugin's Envoy stats for the group's metrics: a plain stat for each
// metric known while the plugin loaded, the labeled late stats for the others.
type pluginMetrics struct {
	mu    sync.Mutex
	plain map[*metric]core.MetricID
	// late are the labeled stats of metrics defined after load, by kind (lateOK: defined).
	late   [3]core.MetricID
	lateOK bool
}

// lateMetricNames are the labeled stats of metrics defined after load, by kind.
var lateMetricNames = [3]string{"wasm_late_counter", "wasm_late_gauge", "wasm_late_histogram"}

// defineLate defines the labeled stats of late metrics (while the plugin loads). A host that
// has no labeled metrics leaves late metrics inside the engine.
func (pm *pluginMetrics) defineLate(host core.ConfigHost) error {
	lh, ok := host.(core.LabeledMetricsHost)
	if !ok {
		return nil
	}
	for kind, def := range []func(string, []string) (core.MetricID, error){lh.DefineCounterVec, lh.DefineGaugeVec, lh.DefineHistogramVec} {
		id, err := def(lateMetricNames[kind], []string{"name"})
		if err != nil {
			return fmt.Errorf("defining labeled stat %q: %w", lateMetricNames[kind], err)
		}
		pm.late[kind] = id
	}
	pm.lateOK = true
	return nil
}

// definePlain defines m as a plain stat of p's configuration (host: while it loads).
func (s *metricSet) definePlain(host core.ConfigHost, p *plugin, m *metric) error {
	pm := &p.ids
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if _, ok := pm.plain[m]; ok {
		return nil
	}
	var id core.MetricID
	var err error
	switch m.kind {
	case metricCounter:
		id, err = host.DefineCounter(m.name)
	case metricGauge:
		id, err = host.DefineGauge(m.name)
	default:
		id, err = host.DefineHistogram(m.name)
	}
	if err != nil {
		return err
	}
	if pm.plain == nil {
		pm.plain = map[*metric]core.MetricID{}
	}
	pm.plain[m] = id
	if !m.plain.Swap(true) && m.kind != metricHistogram {
		// The value emitted so far went to the late stats (pending changes are still to come).
		// Stats of one name are one Envoy stat whichever configuration defined them, so the
		// first plugin with the plain stat to flush emits it.
		if v := m.value.Load() - m.pending.Load(); v != 0 {
			m.catchup.Store(v)
			s.hasCatchup.Store(true)
		}
	}
	return nil
}

func (pm *pluginMetrics) lookup(m *metric) (core.MetricID, bool) {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	id, ok := pm.plain[m]
	return id, ok
}

type metric struct {
	kind uint32
	name string
	// plain: some configuration has the metric as an Envoy stat of its own name; catchup is
	// the value the metric had reached (in late stats) when it first did, not yet emitted.
	plain   atomic.Bool
	catchup atomic.Int64
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

// define returns the id of metric name, creating it; inside Load (host non-nil) it is also a
// plain stat of p's configuration.
func (s *metricSet) define(host core.ConfigHost, p *plugin, kind uint32, name string) (uint32, error) {
	s.mu.Lock()
	id, ok := s.byName[name]
	var m *metric
	if ok {
		m = s.list[id-1]
	} else {
		m = &metric{kind: kind, name: name}
		s.list = append(s.list, m)
		id = uint32(len(s.list))
		s.byName[name] = id
	}
	s.mu.Unlock()
	if host != nil && p != nil {
		if err := s.definePlain(host, p, m); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// defineKnown makes every metric the group knows a plain stat of p's configuration (p is
// joining the group inside Load).
func (s *metricSet) defineKnown(host core.ConfigHost, p *plugin) error {
	s.mu.Lock()
	list := append([]*metric(nil), s.list...)
	s.mu.Unlock()
	for _, m := range list {
		if err := s.definePlain(host, p, m); err != nil {
			return fmt.Errorf("defining metric %q: %w", m.name, err)
		}
	}
	return nil
}

// emit sends a change to Envoy through s (a stream of p), or keeps it for the next stream
// event of the group.
func (p *plugin) emit(s core.Stream, m *metric, delta int64, hist uint64) {
	set := p.g.metrics
	if s == nil {
		if cm, ok := p.host.(core.ConfigMetrics); ok {
			p.emitConfig(cm, m, delta, hist)
			return
		}
		if m.kind == metricHistogram {
			set.mu.Lock()
			if len(m.hist) < 1024 {
				m.hist = append(m.hist, hist)
			}
			set.mu.Unlock()
		} else {
			m.pending.Add(delta)
		}
		set.pending.Store(true)
		return
	}
	id, plain := p.ids.lookup(m)
	if !plain {
		ls, ok := s.(core.LabeledMetricsStream)
		if !ok || !p.ids.lateOK {
			return
		}
		label := []string{m.name}
		switch m.kind {
		case metricCounter:
			ls.CounterVec(p.ids.late[m.kind], label, uint64(delta))
		case metricGauge:
			ls.GaugeVec(p.ids.late[m.kind], label, delta)
		default:
			ls.HistogramVec(p.ids.late[m.kind], label, hist)
		}
		return
	}
	switch m.kind {
	case metricCounter:
		s.Counter(id, uint64(delta))
	case metricGauge:
		s.Gauge(id, delta)
	default:
		s.Histogram(id, hist)
	}
}

// emitConfig emits a change made outside any stream through a host that takes metric
// changes from the configuration itself, with p's stats.
func (p *plugin) emitConfig(cm core.ConfigMetrics, m *metric, delta int64, hist uint64) {
	id, plain := p.ids.lookup(m)
	if !plain {
		if !p.ids.lateOK {
			return
		}
		id, label := p.ids.late[m.kind], []string{m.name}
		switch m.kind {
		case metricCounter:
			cm.ConfigCounterVec(id, label, uint64(delta))
		case metricGauge:
			cm.ConfigGaugeVec(id, label, delta)
		default:
			cm.ConfigHistogramVec(id, label, hist)
		}
		return
	}
	switch m.kind {
	case metricCounter:
		cm.ConfigCounter(id, uint64(delta))
	case metricGauge:
		cm.ConfigGauge(id, delta)
	default:
		cm.ConfigHistogram(id, hist)
	}
}

// emitMetric emits a change made by the VM's current call: through its stream, or else
// kept for a flush that is posted to a live stream of the VM.
func (v *vm) emitMetric(m *metric, delta int64, hist uint64) {
	s := v.stream()
	v.cur.root.p.emit(s, m, delta, hist)
	if s != nil || !v.g.metrics.posted.CompareAndSwap(false, true) {
		return
	}
	if _, direct := v.cur.root.p.host.(core.ConfigMetrics); direct {
		v.g.metrics.posted.Store(false) // emitted already, nothing pending
		return
	}
	for _, f := range v.filters {
		// Post runs on the stream's thread, or not at all once the stream is gone (the
		// change then waits for the next stream event, which also resets posted).
		fs, fp := f.s, f.p
		fs.Post(func() { fp.flushMetrics(fs) })
		return
	}
	v.g.metrics.posted.Store(false)
}

// flushMetrics emits changes made outside any stream through s, a stream of p.
func (p *plugin) flushMetrics(s core.Stream) {
	set := p.g.metrics
	set.posted.Store(false)
	if set.hasCatchup.Load() {
		set.flushCatchup(p, s)
	}
	if !set.pending.Load() || !set.pending.CompareAndSwap(true, false) {
		return
	}
	set.mu.Lock()
	list := append([]*metric{}, set.list...)
	var hists [][]uint64
	for _, m := range list {
		hists = append(hists, m.hist)
		m.hist = nil
	}
	set.mu.Unlock()
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
	id, err := v.g.metrics.define(v.configHost, v.configPlugin, a[0], name)
	if err != nil {
		v.log(core.LogWarn, "defining metric "+name+": "+err.Error())
		return statusInternalFailure
	}
	return putU32(m, a[3], id)
}

// proxy_increment_metric(id, i64 delta): BAD_ARGUMENT for a negative counter delta or a
// histogram.
func hostIncrementMetric(v *vm, id uint32, delta int64) status {
	mt := v.g.metrics.get(id)
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
	mt := v.g.metrics.get(id)
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
	mt := v.g.metrics.get(a[0])
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

// flushCatchup emits the catch-up deltas of the metrics that are plain stats of p.
func (set *metricSet) flushCatchup(p *plugin, s core.Stream) {
	set.hasCatchup.Store(false)
	set.mu.Lock()
	list := append([]*metric{}, set.list...)
	set.mu.Unlock()
	for _, m := range list {
		if m.catchup.Load() == 0 {
			continue
		}
		if _, ok := p.ids.lookup(m); !ok {
			set.hasCatchup.Store(true) // left for a plugin that has it
			continue
		}
		if d := m.catchup.Swap(0); d != 0 {
			p.emit(s, m, d, 0)
		}
	}
}
