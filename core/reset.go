package core

// StreamResetter is implemented by a Stream whose host can reset the HTTP stream: abort it
// towards the client and the upstream without a response (Proxy-Wasm's proxy_close_stream).
// ResetStream reports false when the host cannot, and the caller then answers otherwise.
type StreamResetter interface {
	ResetStream(details string) bool
}

// The stream handed to engines forwards resets to the binding's stream; a reset counts as the
// stream's answer, so a fail strategy applied later sends no local reply after it.
var _ StreamResetter = (*guardedStream)(nil)

func (g *guardedStream) ResetStream(details string) bool {
	r, ok := g.Stream.(StreamResetter)
	if !ok || !r.ResetStream(details) {
		return false
	}
	g.h.replied = true
	return true
}
