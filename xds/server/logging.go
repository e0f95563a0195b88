package server

import (
	"context"
	"fmt"
	"log/slog"
	stdmaps "maps"
	"slices"
	"strings"

	cplog "github.com/envoyproxy/go-control-plane/pkg/log"
)

// maxLoggedNames bounds the resource names one log line lists: a proxy subscribes to one ECDS
// resource per extension, so a line naming all of them, once per request, grows with the
// square of the extension count.
const maxLoggedNames = 8

// cacheLogger adapts the go-control-plane cache's printf logging to log. Nothing is formatted
// below the logger's level, and lists of resource names are shortened to maxLoggedNames.
//
// The cache's "ADS mode: not responding" warning is demoted to debug: Envoy adds ECDS
// subscriptions one at a time while it builds a listener, and the cache rightly waits for the
// request naming them all; it is the normal path, not a fault.
func cacheLogger(log *slog.Logger) cplog.Logger {
	at := func(level slog.Level) func(string, ...any) {
		return func(f string, a ...any) {
			l := level
			if l == slog.LevelWarn && strings.HasPrefix(f, "ADS mode: not responding") {
				l = slog.LevelDebug
			}
			if !log.Enabled(context.Background(), l) {
				return
			}
			log.Log(context.Background(), l, fmt.Sprintf(f, shortenNames(a)...))
		}
	}
	return cplog.LoggerFuncs{
		DebugFunc: at(slog.LevelDebug),
		InfoFunc:  at(slog.LevelDebug), // per-request chatter: debug for us
		WarnFunc:  at(slog.LevelWarn),
		ErrorFunc: at(slog.LevelError),
	}
}

// shortenNames replaces every list or set of names ([]string, map[string]struct{}) longer
// than maxLoggedNames by its first names and a count.
func shortenNames(a []any) []any {
	out := a
	for i, v := range a {
		var names []string
		switch v := v.(type) {
		case []string:
			names = v
		case map[string]struct{}:
			if len(v) > maxLoggedNames {
				names = slices.Sorted(stdmaps.Keys(v))
			}
		}
		if len(names) > maxLoggedNames {
			if len(out) > 0 && &out[0] == &a[0] {
				out = append([]any(nil), a...) // the caller's slice stays as it was
			}
			out[i] = namesSummary(names)
		}
	}
	return out
}

// namesSummary renders names as their first maxLoggedNames and how many there are in all.
func namesSummary(names []string) string {
	if len(names) <= maxLoggedNames {
		return "[" + strings.Join(names, " ") + "]"
	}
	return fmt.Sprintf("[%s ... (%d names)]", strings.Join(names[:maxLoggedNames], " "), len(names))
}
