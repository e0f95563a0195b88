package core

// LabeledMetricsHost is implemented by a ConfigHost that can also define metrics with labels
// (Envoy's tagged stats); engines check for it with a type assertion. The label values are
// given per emission through LabeledMetricsStream.
type LabeledMetricsHost interface {
	DefineCounterVec(name string, labels []string) (MetricID, error)
	DefineGaugeVec(name string, labels []string) (MetricID, error)
	DefineHistogramVec(name string, labels []string) (MetricID, error)
}

// LabeledMetricsStream is implemented by a Stream whose host can emit metrics defined through
// LabeledMetricsHost; values holds one value per label, in the defined order.
type LabeledMetricsStream interface {
	CounterVec(id MetricID, values []string, delta uint64)
	// GaugeVec adds delta (which may be negative).
	GaugeVec(id MetricID, values []string, delta int64)
	HistogramVec(id MetricID, values []string, value uint64)
}

// The stream handed to engines forwards labeled metrics to the binding's stream (a binding
// whose ConfigHost is a LabeledMetricsHost has LabeledMetricsStream streams).
var _ LabeledMetricsStream = (*guardedStream)(nil)

func (g *guardedStream) CounterVec(id MetricID, values []string, delta uint64) {
	if ls, ok := g.Stream.(LabeledMetricsStream); ok {
		ls.CounterVec(id, values, delta)
	}
}

func (g *guardedStream) GaugeVec(id MetricID, values []string, delta int64) {
	if ls, ok := g.Stream.(LabeledMetricsStream); ok {
		ls.GaugeVec(id, values, delta)
	}
}

func (g *guardedStream) HistogramVec(id MetricID, values []string, value uint64) {
	if ls, ok := g.Stream.(LabeledMetricsStream); ok {
		ls.HistogramVec(id, values, value)
	}
}
