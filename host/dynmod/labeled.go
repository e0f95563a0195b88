package dynmod

/*
#include <stdlib.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>

typedef struct { char* ptr; size_t length; } tx_label;

int envoy_dynamic_module_callback_http_filter_config_define_counter_vec(void* c, char* n, size_t nl, tx_label* labels, size_t count, size_t* id);
int envoy_dynamic_module_callback_http_filter_config_define_gauge_vec(void* c, char* n, size_t nl, tx_label* labels, size_t count, size_t* id);
int envoy_dynamic_module_callback_http_filter_config_define_histogram_vec(void* c, char* n, size_t nl, tx_label* labels, size_t count, size_t* id);
int envoy_dynamic_module_callback_http_filter_increment_counter_vec(void* f, size_t id, tx_label* values, size_t count, uint64_t v);
int envoy_dynamic_module_callback_http_filter_increase_gauge_vec(void* f, size_t id, tx_label* values, size_t count, uint64_t v);
int envoy_dynamic_module_callback_http_filter_decrease_gauge_vec(void* f, size_t id, tx_label* values, size_t count, uint64_t v);
int envoy_dynamic_module_callback_http_filter_record_histogram_value_vec(void* f, size_t id, tx_label* values, size_t count, uint64_t v);

// tx_labels copies n strings (their bytes at data, lengths in lens) into one C allocation:
// the label array followed by the bytes. The caller frees it.
static tx_label* tx_labels(const char* data, const size_t* lens, size_t n) {
	size_t total = 0;
	for (size_t i = 0; i < n; i++) total += lens[i];
	tx_label* out = malloc(n * sizeof(tx_label) + total + 1);
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

// Labeled (vec) metrics of the v1.36.2 ABI: core.LabeledMetricsHost and
// core.LabeledMetricsStream.

var (
	_ core.LabeledMetricsHost   = configHost{}
	_ core.LabeledMetricsStream = (*stream)(nil)
)

// withLabels runs fn with the strings in C memory (Envoy reads them during the call only).
func withLabels(ss []string, fn func(*C.tx_label, C.size_t) C.int) C.int {
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
	var id C.size_t
	res := withLabels(labels, func(l *C.tx_label, count C.size_t) C.int {
		switch kind {
		case "counter":
			return C.envoy_dynamic_module_callback_http_filter_config_define_counter_vec(h.envoy, n, C.size_t(len(name)), l, count, &id)
		case "gauge":
			return C.envoy_dynamic_module_callback_http_filter_config_define_gauge_vec(h.envoy, n, C.size_t(len(name)), l, count, &id)
		}
		return C.envoy_dynamic_module_callback_http_filter_config_define_histogram_vec(h.envoy, n, C.size_t(len(name)), l, count, &id)
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
	withLabels(values, func(l *C.tx_label, n C.size_t) C.int {
		return C.envoy_dynamic_module_callback_http_filter_increment_counter_vec(s.envoy, C.size_t(id), l, n, C.uint64_t(delta))
	})
}

func (s *stream) GaugeVec(id core.MetricID, values []string, delta int64) {
	withLabels(values, func(l *C.tx_label, n C.size_t) C.int {
		if delta >= 0 {
			return C.envoy_dynamic_module_callback_http_filter_increase_gauge_vec(s.envoy, C.size_t(id), l, n, C.uint64_t(delta))
		}
		return C.envoy_dynamic_module_callback_http_filter_decrease_gauge_vec(s.envoy, C.size_t(id), l, n, C.uint64_t(-delta))
	})
}

func (s *stream) HistogramVec(id core.MetricID, values []string, value uint64) {
	withLabels(values, func(l *C.tx_label, n C.size_t) C.int {
		return C.envoy_dynamic_module_callback_http_filter_record_histogram_value_vec(s.envoy, C.size_t(id), l, n, C.uint64_t(value))
	})
}
