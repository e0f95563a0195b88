//go:build conformance

package wasm_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
)

// TestEnvoy_LabeledMetrics runs the Go SDK's metrics example (guest go/labelmetrics) with the
// example's stats_tags in the bootstrap, which turn the "_value=…" and "_reporter=…" parts
// of Wasm metric names into labels. A metric defined at load is then the same Prometheus
// series on both hosts. One first defined on the request path cannot be an Envoy stat of its
// own name in the configuration that saw it (the dynamic-modules ABI freezes stat creation
// after config_new): it is wasm_late_counter{name="<name>"} there, and from the next
// configuration of the same VM on (here an ECDS update) the same series as V8's, with the
// value it had reached. Our series carry Envoy's dynamic-modules namespace (see waitSeries).
func TestEnvoy_LabeledMetrics(t *testing.T) {
	requireEnvoy(t)
	g := wasmtest.Go(t, "labelmetrics")
	up := upstream(t)
	adminPort := freePort(t)
	ours, v8 := freePort(t), freePort(t)
	dir := t.TempDir()
	name := "extensions.istio.io/trafficextension/ns.labelmetrics"
	ecds := filepath.Join(dir, "ours.json")
	write := func(cfg string) {
		doc := map[string]any{"resources": []any{map[string]any{
			"@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig", "name": name,
			"typed_config": ourFilter(t, name, plug{guest: g, pluginConfig: cfg, vmID: "labels"})}}}
		b, _ := json.Marshal(doc)
		if err := os.WriteFile(ecds+".tmp", b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(ecds+".tmp", ecds); err != nil {
			t.Fatal(err)
		}
	}
	write("v1")
	lis := func(port int, tag string, f map[string]any) any {
		return map[string]any{"name": tag, "address": addr(port), "filter_chains": []any{map[string]any{"filters": []any{
			hcm(tag, []any{f})}}}}
	}
	var boot map[string]any
	if err := json.Unmarshal([]byte(bootstrap(t, []any{
		lis(ours, "ours", map[string]any{"name": name, "config_discovery": map[string]any{
			"config_source": map[string]any{"path_config_source": map[string]any{"path": ecds}, "resource_api_version": "V3"},
			"type_urls":     []any{"type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter"}}}),
		lis(v8, "v8", map[string]any{"name": "v8-labelmetrics", "typed_config": v8Filter(name, plug{guest: g, pluginConfig: "v1", vmID: "labels"})}),
	}, adminPort, up)), &boot); err != nil {
		t.Fatal(err)
	}
	// The Go SDK example's stats_tags.
	boot["stats_config"] = map[string]any{"stats_tags": []any{
		map[string]any{"tag_name": "value", "regex": "(_value=([a-zA-Z]+))"},
		map[string]any{"tag_name": "reporter", "regex": "(_reporter=([a-zA-Z]+))"},
	}}
	b, _ := json.Marshal(boot)
	p := startEnvoy(t, string(b), adminPort, 2)
	prom := func() map[string]string {
		s, err := p.Admin("/stats/prometheus")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, "custom_header_value_counts") || strings.Contains(l, "wasmtest_boot_counts") {
				if i := strings.LastIndexByte(l, ' '); i > 0 && !strings.HasPrefix(l, "#") {
					out[l[:i]] = l[i+1:]
				}
			}
		}
		return out
	}
	header := req{headers: []string{"my-custom-header", "foo"}}
	for i := 0; i < 3; i++ {
		for _, port := range []int{ours, v8} {
			if r := do(t, port, header); r.Status != 200 || r.Headers["x-config"] != "v1" {
				t.Fatalf(":%d: %+v", port, r)
			}
		}
	}
	// V8's series, and ours: the same name and labels under the dynamic-modules stat
	// namespace, which Envoy 1.39.3 does not strip in Prometheus output (it strips Wasm's).
	const (
		series = `custom_header_value_counts{value="foo",reporter="wasmgosdk"}`
		boots  = `wasmtest_boot_counts{value="boot",reporter="wasmgosdk"}`
		ns     = "envoy_dynamicmodulescustom_"
		late   = ns + `wasm_late_counter{name="custom_header_value_counts_value=foo_reporter=wasmgosdk"}`
	)
	waitSeries := func(want map[string]string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := prom()
			ok := true
			for k, v := range want {
				ok = ok && got[k] == v
			}
			if ok {
				t.Logf("prometheus: %v", got)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("prometheus series %v, want %v", got, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// The load-time metric has V8's labels on both hosts; the late one is V8's series and our
	// late stat.
	waitSeries(map[string]string{boots: "3", ns + boots: "3", series: "3", late: "3"})
	if got := prom(); got[ns+series] != "" {
		t.Errorf("v1 has the late metric as a plain stat: %v", got)
	}

	write("v2")
	deadline := time.Now().Add(15 * time.Second)
	for do(t, ours, req{}).Headers["x-config"] != "v2" {
		if time.Now().After(deadline) {
			t.Fatal("the ECDS update to v2 did not apply")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// From v2 on, the late metric is V8's series too, caught up with the 3 counted before.
	do(t, ours, header)
	do(t, v8, header)
	waitSeries(map[string]string{series: "4", ns + series: "4"})
	stats, err := p.Admin("/stats?filter=custom_header_value_counts")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dynamicmodulescustom.custom_header_value_counts_value=foo_reporter=wasmgosdk: 4",
		"wasmcustom.custom_header_value_counts_value=foo_reporter=wasmgosdk: 4"} {
		if !strings.Contains(stats, want) {
			t.Errorf("/stats lacks %q:\n%s", want, stats)
		}
	}
	if !p.Alive() {
		t.Fatal("Envoy died")
	}
}
