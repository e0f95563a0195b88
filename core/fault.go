package core

import (
	"fmt"
	"strings"
)

// FaultInjection makes an extension panic on purpose so that tests can prove, through a real
// Envoy, that a Go panic inside an extension is contained. It is off unless a binding enables
// it (from the TRAFFICEXT_FAULT_INJECTION environment variable of the Envoy process).
type FaultInjection struct {
	// PanicHeader, when set, names a request header; a request carrying it panics inside the
	// extension whose name (full or "<namespace>.<name>") equals the header value.
	PanicHeader string
}

// ParseFaultInjection reads the TRAFFICEXT_FAULT_INJECTION syntax: "panic-header=<header>".
func ParseFaultInjection(spec string) (FaultInjection, error) {
	var f FaultInjection
	if spec == "" {
		return f, nil
	}
	for _, part := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" {
			return f, fmt.Errorf("fault injection %q: want key=value", part)
		}
		switch k {
		case "panic-header":
			f.PanicHeader = strings.ToLower(v)
		default:
			return f, fmt.Errorf("fault injection: unknown key %q", k)
		}
	}
	return f, nil
}

// InjectedPanic is the value an injected panic carries.
type InjectedPanic struct{ Extension string }

func (p InjectedPanic) String() string { return "injected panic in extension " + p.Extension }

func (f FaultInjection) maybePanic(s Stream, ext string) {
	if f.PanicHeader == "" {
		return
	}
	h := s.RequestHeaders()
	if h == nil {
		return
	}
	v, ok := h.Get(f.PanicHeader)
	if !ok {
		return
	}
	if v == ext || v == ext[strings.LastIndexByte(ext, '/')+1:] {
		panic(InjectedPanic{Extension: ext})
	}
}
