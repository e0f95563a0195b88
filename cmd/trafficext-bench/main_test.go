package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trafficext/trafficext/cmd/trafficext-bench/internal/loadgen"
)

func TestBootstrapIsJSONWithFilter(t *testing.T) {
	for _, c := range allConfigs {
		var f map[string]any
		if c.Filter != nil {
			var err error
			if f, err = c.Filter(); err != nil {
				t.Fatal(err)
			}
		}
		bs, err := bootstrap(10000, 9901, 8081, f)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(bs), &v); err != nil {
			t.Fatalf("%s: %v", c.Key, err)
		}
		if c.Key == "trafficext" && !strings.Contains(bs, `\"inlineCode\":\"function envoy_on_request`) {
			t.Errorf("trafficext bootstrap lacks the script in the extension config:\n%s", bs)
		}
		if c.Key == "floor" && !strings.Contains(bs, `bench.floor`) {
			t.Errorf("floor bootstrap lacks the empty-hooks extension:\n%s", bs)
		}
		if c.Key == "lua" && !strings.Contains(bs, `"inline_string": "function envoy_on_request`) {
			t.Errorf("lua bootstrap lacks the inline script:\n%s", bs)
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"--conns", "1, 4", "--configs", "lua,trafficext", "--duration", "3s"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.conns) != 2 || o.conns[1] != 4 || len(o.configs) != 2 || o.configs[1].Key != "trafficext" || o.duration != 3*time.Second || o.concurrency != 2 || o.warmup != 2*time.Second {
		t.Fatalf("%+v", o)
	}
	for _, bad := range [][]string{{"--conns", "0"}, {"--configs", "wasm"}, {"--rounds", "0"}, {"extra"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRenderDocKeepsHandWrittenText(t *testing.T) {
	o, _ := parseFlags(nil)
	res := &loadgen.Result{Latency: loadgen.NewHistogram(), Requests: 100, Checked: 100, Window: time.Second}
	res.Latency.Record(time.Millisecond)
	var runs []*configRun
	for _, c := range o.configs {
		runs = append(runs, &configRun{Config: c, Cells: []*cell{{Config: c, Conns: 1, Res: res, EnvoyCPU: 10 * time.Millisecond}}})
	}
	r := &report{Opts: o, Runs: runs, Machine: machine{NumCPU: 2}, DocPath: filepath.Join(t.TempDir(), "b.md")}
	md := renderReport(r)
	if !strings.Contains(md, "| 1 | req/s | 1.00× | 1.00× | **1.00×** |") {
		t.Errorf("ratios missing:\n%s", md)
	}
	first := renderDoc(r, md)
	if !strings.Contains(first, "# Benchmarks") || !strings.Contains(first, beginGenerated) {
		t.Fatalf("default document:\n%s", first)
	}
	edited := strings.Replace(first, endGenerated+"\n", endGenerated+"\n\n## Observations\n\nhand-written\n", 1)
	if err := os.WriteFile(r.DocPath, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	second := renderDoc(r, "NEW RESULTS\n")
	if !strings.Contains(second, "hand-written") || !strings.Contains(second, "NEW RESULTS") || strings.Contains(second, "| 1 | req/s |") {
		t.Fatalf("regenerated document:\n%s", second)
	}
}

func TestParseFlags_FloorNotInMatrix(t *testing.T) {
	if _, err := parseFlags([]string{"--configs", "none,floor"}); err != nil {
		t.Fatalf("floor in the parity comparison: %v", err)
	}
	if _, err := parseFlags([]string{"--matrix", "--configs", "none,floor"}); err == nil || !strings.Contains(err.Error(), "floor") {
		t.Fatalf("floor with --matrix: err %v, want one naming floor", err)
	}
}
