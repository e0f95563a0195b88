package main

import (
	"bytes"
	"context"
	"os"
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
		{"validate nothing", []string{"validate"}, 2, "", "usage: trafficext validate [--binding dynamic-modules|golang] FILE..."},
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

// TestValidate_Binding: validate --binding golang refuses what the golang filter cannot host.
func TestValidate_Binding(t *testing.T) {
	p := t.TempDir() + "/callout.yaml"
	doc := "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata: {name: callout, namespace: apps}\n" +
		"spec:\n  lua:\n    inlineCode: |\n      function envoy_on_request(h)\n        h:httpCall('authz', {}, '', 100)\n      end\n"
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"validate", p}, 0, ""},
		{[]string{"validate", "--binding", "dynamic-modules", p}, 0, ""},
		{[]string{"validate", "--binding", "lua", p}, 2, `unknown binding "lua"`},
		{[]string{"validate", "--binding", "golang", p}, 1, "apps/callout: spec.lua.inlineCode: line 2: httpCall() is not available with the golang binding"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), tt.args, &out, &errb); code != tt.code || !strings.Contains(errb.String(), tt.err) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q)", tt.args, code, tt.code, errb.String(), tt.err)
		}
	}
}
