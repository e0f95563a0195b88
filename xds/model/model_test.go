package model

import "testing"

func TestError_Error(t *testing.T) {
	k := Key{Namespace: "default", Name: "parity"}
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "examples/bad.yaml", Key: k, Field: "spec.lua.inlineCode", Line: 3, Msg: "near 'if': syntax error"},
			"examples/bad.yaml: default/parity: spec.lua.inlineCode: line 3: near 'if': syntax error"},
		{Error{File: "bad.yaml", Line: 5, Msg: "mapping values are not allowed in this context"}, "bad.yaml: line 5: mapping values are not allowed in this context"},
		{Error{Key: k, Field: "spec", Msg: "required"}, "default/parity: spec: required"},
		{Error{File: "f", Key: k, Field: "spec.selector", Msg: "no labels", Warning: true}, "f: default/parity: spec.selector: warning: no labels"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	if k.ResourceName() != "extensions.istio.io/trafficextension/default.parity" {
		t.Errorf("resource name = %s", k.ResourceName())
	}
}
