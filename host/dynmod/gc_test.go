package dynmod

import (
	"runtime/debug"
	"testing"
)

func TestApplyGCDefaults(t *testing.T) {
	const before = 123 // a value neither case sets by itself
	tests := []struct {
		name string
		env  map[string]string
		want int
	}{
		{"no GOGC: the module's default", nil, DefaultGCPercent},
		{"GOMEMLIMIT alone: still the default percent", map[string]string{"GOMEMLIMIT": "1GiB"}, DefaultGCPercent},
		{"GOGC set: left to the Go runtime", map[string]string{"GOGC": "200"}, before},
		{"GOGC=off: left to the Go runtime", map[string]string{"GOGC": "off"}, before},
	}
	orig := debug.SetGCPercent(before)
	defer debug.SetGCPercent(orig)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(before)
			applyGCDefaults(func(k string) string { return tt.env[k] })
			if got := debug.SetGCPercent(before); got != tt.want {
				t.Fatalf("GC percent = %d, want %d", got, tt.want)
			}
		})
	}
}
