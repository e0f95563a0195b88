package core

// ConfigMetrics is implemented by a ConfigHost that can change its metrics outside any stream
// (Envoy 1.39's configuration-level metric callbacks). Its methods may be called from any
// goroutine until the Plugin's Close returns; the host applies the changes shortly after, on
// its own thread. Ids are those of ConfigHost's and LabeledMetricsHost's Define methods.
type ConfigMetrics interface {
	ConfigCounter(id MetricID, delta uint64)
	// ConfigGauge adds delta (which may be negative).
	ConfigGauge(id MetricID, delta int64)
	ConfigHistogram(id MetricID, value uint64)
	ConfigCounterVec(id MetricID, values []string, delta uint64)
	ConfigGaugeVec(id MetricID, values []string, delta int64)
	ConfigHistogramVec(id MetricID, values []string, value uint64)
}
