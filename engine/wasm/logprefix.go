package wasm

// logPrefixes are the prefixes Envoy (proxy-wasm-cpp-host) gives a guest's log lines: "wasm
// log" followed by " <part>" for each non-empty part, then ": ". A stream context's parts are
// the plugin name, root id and VM id; a root context's the root id and VM id; the VM context
// (_start, _initialize, main) has none.
type logPrefixes struct{ vm, root, stream string }

func newLogPrefixes(name, rootID, vmID string) logPrefixes {
	join := func(parts ...string) string {
		s := "wasm log"
		for _, p := range parts {
			if p != "" {
				s += " " + p
			}
		}
		return s + ": "
	}
	return logPrefixes{vm: join(), root: join(rootID, vmID), stream: join(name, rootID, vmID)}
}

// of returns the prefix of a line logged in a stream context (stream), else in the root
// context once it exists (root), else in the VM context.
func (l *logPrefixes) of(stream, root bool) string {
	switch {
	case stream:
		return l.stream
	case root:
		return l.root
	}
	return l.vm
}
