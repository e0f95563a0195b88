package server

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestCacheLogger(t *testing.T) {
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("extensions.istio.io/trafficextension/ns.e%d", i)
	}
	set := map[string]struct{}{}
	for _, n := range names {
		set[n] = struct{}{}
	}
	tests := []struct {
		name  string
		level slog.Level
		log   func(l interface{ Warnf(string, ...any) }, d interface{ Debugf(string, ...any) })
		want  string // "" = nothing logged
	}{
		{name: "not responding is debug", level: slog.LevelInfo,
			log: func(l interface{ Warnf(string, ...any) }, _ interface{ Debugf(string, ...any) }) {
				l.Warnf("ADS mode: not responding to request %s %v: %v", "t", names, "x")
			}},
		{name: "not responding at debug, names shortened", level: slog.LevelDebug,
			log: func(l interface{ Warnf(string, ...any) }, _ interface{ Debugf(string, ...any) }) {
				l.Warnf("ADS mode: not responding to request %s %v: %v", "t", names, "x")
			},
			want: "level=DEBUG msg=\"ADS mode: not responding to request t [extensions.istio.io/trafficextension/ns.e0"},
		{name: "other warnings stay", level: slog.LevelInfo,
			log: func(l interface{ Warnf(string, ...any) }, _ interface{ Debugf(string, ...any) }) {
				l.Warnf("watch %v", set)
			},
			want: "level=WARN msg=\"watch [extensions.istio.io/trafficextension/ns.e0"},
		{name: "debug below level", level: slog.LevelInfo,
			log: func(_ interface{ Warnf(string, ...any) }, d interface{ Debugf(string, ...any) }) {
				d.Debugf("respond %v", names)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := cacheLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level})))
			tt.log(l, l)
			got := buf.String()
			if tt.want == "" {
				if got != "" {
					t.Fatalf("logged %q", got)
				}
				return
			}
			if !strings.Contains(got, tt.want) || !strings.Contains(got, "(1000 names)") || len(got) > 1000 {
				t.Fatalf("logged %q, want %q and a count, under 1000 bytes", got, tt.want)
			}
		})
	}
}
