package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRun_Commands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"no command", nil, 2, "", "usage:"},
		{"unknown", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"help", []string{"help"}, 0, "usage:", ""},
		{"validate nothing", []string{"validate"}, 2, "", "usage: trafficext validate FILE..."},
		{"validate example", []string{"validate", "../../examples/parity.yaml"}, 0, "1 file(s) valid", ""},
		{"validate bad", []string{"validate", "../../conformance/testdata/invalid/unknown-phase.yaml"}, 1, "",
			`unknown-phase.yaml: istio-system/victim: spec.phase: unknown value "AUTHX"`},
		{"bad source", []string{"xds", "--source", "nowhere"}, 1, "", `--source "nowhere": want dir or kubernetes`},
		{"bad binding", []string{"xds", "--binding", "lua", "--xds-address", "127.0.0.1:0"}, 1, "", `unknown binding "lua"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.err) {
				t.Fatalf("stdout %q (want %q)\nstderr %q (want %q)", out.String(), tt.out, errb.String(), tt.err)
			}
		})
	}
}
