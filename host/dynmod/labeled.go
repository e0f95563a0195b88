package dynmod

/*
#include <string.h>
#include "abi_decls.h"

// tx_labels copies n strings (their bytes at data, lengths in lens) into one C allocation:
// the label array followed by the bytes. The caller frees it.
static tx_buffer* tx_labels(const char* data, const size_t* lens, size_t n) {
	size_t total = 0;
	for (size_t i = 0; i < n; i++) total += lens[i];
	tx_buffer* out = malloc(n * sizeof(tx_buffer) + total + 1);
	if (out == NULL) return NULL;
	char* p = (char*)(out + n);
	for (size_t i = 0; i < n; i++) {
		memcpy(p, data, lens[i]);
		out[i].ptr = p;
		out[i].length = lens[i];
		p += lens[i];
		data += lens[i];
	}
	return out;
}
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/trafficext/trafficext/core"
)

// Labeled metrics (core.LabeledMetricsHost and core.LabeledMetricsStream): the 1.39 ABI's
// metric callbacks take the label names at definition and their values at each use.

var (
	_ core.LabeledMetricsHost   = configHost{}
	_ core.LabeledMetricsStream = (*stream)(nil)
)

// withLabels runs fn with the strings in C memory (Envoy reads them during the call only).
func withLabels(ss []string, fn func(*C.tx_buffer, C.size_t) C.int) C.int {
	if len(ss) == 0 {
		return fn(nil, 0)
	}
	lens := make([]C.size_t, len(ss))
	for i, s := range ss {
		lens[i] = C.size_t(len(s))
	}
	data := strings.Join(ss, "")
	d := C.CString(data) // C copy: the C side must not hold Go pointers
	defer C.free(unsafe.Pointer(d))
	cl := (*C.size_t)(C.malloc(C.size_t(len(lens)) * C.size_t(unsafe.Sizeof(C.size_t(0)))))
	defer C.free(unsafe.Pointer(cl))
	copy(unsafe.Slice(cl, len(lens)), lens)
	arr := C.tx_labels(d, cl, C.size_t(len(ss)))
	if arr == nil {
		return -1
	}
	defer C.free(unsafe.Pointer(arr))
	return fn(arr, C.size_t(len(ss)))
}

func (h configHost) defineVec(kind, name string, labels []string) (core.MetricID, error) {
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	nb := C.tx_buffer{ptr: n, length: C.size_t(len(name))}
	var id C.size_t
	res := withLabels(labels, func(l *C.tx_buffer, count C.size_t) C.int {
		switch kind {
		case "counter":
			return C.envoy_dynamic_module_callback_http_filter_config_define_counter(h.envoy, nb, l, count, &id)
		case "gauge":
			return C.envoy_dynamic_module_callback_http_filter_config_define_gauge(h.envoy, nb, l, count, &id)
		}
		return C.envoy_dynamic_module_callback_http_filter_config_define_histogram(h.envoy, nb, l, count, &id)
	})
	if res != 0 {
		return 0, fmt.Errorf("defining %s vec %q: metrics result %d", kind, name, int(res))
	}
	return core.MetricID(id), nil
}

func (h configHost) DefineCounterVec(name string, labels []string) (core.MetricID, error) {
	return h.defineVec("counter", name, labels)
}

func (h configHost) DefineGaugeVec(name string, labels []string) (core.MetricID, error) {
	return h.defineVec("gauge", name, labels)
}

func (h configHost) DefineHistogramVec(name string, labels []string) (core.MetricID, error) {
	return h.defineVec("histogram", name, labels)
}

func (s *stream) CounterVec(id core.MetricID, values []string, delta uint64) {
	withLabels(values, func(l *C.tx_buffer, n C.size_t) C.int {
		return C.envoy_dynamic_module_callback_http_filter_increment_counter(s.envoy, C.size_t(id), l, n, C.uint64_t(delta))
	})
}

func (s *stream) GaugeVec(id core.MetricID, values []string, delta int64) {
	withLabels(values, func(l *C.tx_buffer, n C.size_t) C.int {
		if delta >= 0 {
			return C.envoy_dynamic_module_callback_http_filter_increment_gauge(s.envoy, C.size_t(id), l, n, C.uint64_t(delta))
		}
		return C.envoy_dynamic_module_callback_http_filter_decrement_gauge(s.envoy, C.size_t(id), l, n, C.uint64_t(-delta))
	})
}

func (s *stream) HistogramVec(id core.MetricID, values []string, value uint64) {
	withLabels(values, func(l *C.tx_buffer, n C.size_t) C.int {
		return C.envoy_dynamic_module_callback_http_filter_record_histogram_value(s.envoy, C.size_t(id), l, n, C.uint64_t(value))
	})
}
