package dynmod

/*
#include "abi_decls.h"
*/
import "C"

import (
	"sync"
	"unsafe"

	"github.com/trafficext/trafficext/core"
)

// config is what Envoy holds for one filter configuration (as a cgo.Handle).
type config struct {
	cfg  *core.Config
	host configHost
}

// configHost is the core.ConfigHost of one filter configuration: its Envoy object, and the
// queue that brings metric changes made outside any stream onto Envoy's main thread through
// the configuration's scheduler (core.ConfigMetrics).
type configHost struct {
	envoy unsafe.Pointer
	q     *configQueue
}

type configQueue struct {
	mu        sync.Mutex
	scheduler unsafe.Pointer // nil once closed
	queued    []func()
}

var _ core.ConfigMetrics = configHost{}

func newConfigHost(envoy unsafe.Pointer) configHost {
	return configHost{envoy: envoy, q: &configQueue{}}
}

// open creates the scheduler (main thread, in on_http_filter_config_new).
func (h configHost) open() {
	h.q.mu.Lock()
	defer h.q.mu.Unlock()
	h.q.scheduler = C.envoy_dynamic_module_callback_http_filter_config_scheduler_new(h.envoy)
}

// close drops what is queued and deletes the scheduler: nothing reaches Envoy's configuration
// after it (changes posted later are dropped).
func (h configHost) close() {
	h.q.mu.Lock()
	defer h.q.mu.Unlock()
	if h.q.scheduler != nil {
		C.envoy_dynamic_module_callback_http_filter_config_scheduler_delete(h.q.scheduler)
		h.q.scheduler = nil
	}
	h.q.queued = nil
}

// post queues fn for the main thread; the first of a batch commits one scheduler event.
func (h configHost) post(fn func()) {
	h.q.mu.Lock()
	defer h.q.mu.Unlock()
	if h.q.scheduler == nil {
		return
	}
	h.q.queued = append(h.q.queued, fn)
	if len(h.q.queued) == 1 {
		C.envoy_dynamic_module_callback_http_filter_config_scheduler_commit(h.q.scheduler, 0)
	}
}

// runQueued runs the queued changes (on_http_filter_config_scheduled, main thread).
func (h configHost) runQueued() {
	h.q.mu.Lock()
	fns := h.q.queued
	h.q.queued = nil
	h.q.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

func (h configHost) ConfigCounter(id core.MetricID, delta uint64) {
	h.post(func() {
		C.envoy_dynamic_module_callback_http_filter_config_increment_counter(h.envoy, C.size_t(id), nil, 0, C.uint64_t(delta))
	})
}

func (h configHost) ConfigGauge(id core.MetricID, delta int64) {
	h.post(func() {
		if delta >= 0 {
			C.envoy_dynamic_module_callback_http_filter_config_increment_gauge(h.envoy, C.size_t(id), nil, 0, C.uint64_t(delta))
		} else {
			C.envoy_dynamic_module_callback_http_filter_config_decrement_gauge(h.envoy, C.size_t(id), nil, 0, C.uint64_t(-delta))
		}
	})
}

func (h configHost) ConfigHistogram(id core.MetricID, value uint64) {
	h.post(func() {
		C.envoy_dynamic_module_callback_http_filter_config_record_histogram_value(h.envoy, C.size_t(id), nil, 0, C.uint64_t(value))
	})
}

func (h configHost) ConfigCounterVec(id core.MetricID, values []string, delta uint64) {
	values = append([]string(nil), values...)
	h.post(func() {
		withLabels(values, func(l *C.tx_buffer, n C.size_t) C.int {
			return C.envoy_dynamic_module_callback_http_filter_config_increment_counter(h.envoy, C.size_t(id), l, n, C.uint64_t(delta))
		})
	})
}

func (h configHost) ConfigGaugeVec(id core.MetricID, values []string, delta int64) {
	values = append([]string(nil), values...)
	h.post(func() {
		withLabels(values, func(l *C.tx_buffer, n C.size_t) C.int {
			if delta >= 0 {
				return C.envoy_dynamic_module_callback_http_filter_config_increment_gauge(h.envoy, C.size_t(id), l, n, C.uint64_t(delta))
			}
			return C.envoy_dynamic_module_callback_http_filter_config_decrement_gauge(h.envoy, C.size_t(id), l, n, C.uint64_t(-delta))
		})
	})
}

func (h configHost) ConfigHistogramVec(id core.MetricID, values []string, value uint64) {
	values = append([]string(nil), values...)
	h.post(func() {
		withLabels(values, func(l *C.tx_buffer, n C.size_t) C.int {
			return C.envoy_dynamic_module_callback_http_filter_config_record_histogram_value(h.envoy, C.size_t(id), l, n, C.uint64_t(value))
		})
	})
}
