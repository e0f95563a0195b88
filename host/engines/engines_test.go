package engines

import (
	"strings"
	"testing"
	"time"
)

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		err  string // substring; "" for success
		ok   func(Settings) bool
	}{
		{"empty", nil, "", func(s Settings) bool {
			return s.Fault.PanicHeader == "" && s.Wasm.CacheMaxBytes == 0 && s.Wasm.CallTimeout == 0
		}},
		{"all set", map[string]string{EnvFaultInjection: "panic-header=X-Boom", EnvWasmCacheDir: "-", EnvWasmCacheMaxMB: "8", EnvWasmCallTimeout: "150ms"}, "",
			func(s Settings) bool {
				return s.Fault.PanicHeader == "x-boom" && s.Wasm.CacheDir == "-" && s.Wasm.CacheMaxBytes == 8<<20 && s.Wasm.CallTimeout == 150*time.Millisecond
			}},
		{"off", map[string]string{EnvWasmCacheMaxMB: "off", EnvWasmCallTimeout: "off"}, "", func(s Settings) bool { return s.Wasm.CacheMaxBytes == -1 && s.Wasm.CallTimeout == -1 }},
		{"bad fault", map[string]string{EnvFaultInjection: "explode"}, EnvFaultInjection, nil},
		{"bad cache size", map[string]string{EnvWasmCacheMaxMB: "lots"}, EnvWasmCacheMaxMB, nil},
		{"zero cache size", map[string]string{EnvWasmCacheMaxMB: "0"}, EnvWasmCacheMaxMB, nil},
		{"bad timeout", map[string]string{EnvWasmCallTimeout: "2"}, EnvWasmCallTimeout, nil},
		{"negative timeout", map[string]string{EnvWasmCallTimeout: "-1s"}, EnvWasmCallTimeout, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := FromEnv(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.ok(s) {
				t.Errorf("settings = %+v", s)
			}
		})
	}
}
