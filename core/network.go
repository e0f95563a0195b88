package core

import (
	"errors"
	"fmt"
	"strings"

	"github.com/trafficext/trafficext/extconfig"
)

// Connection is one downstream TCP connection as seen by a network (L4) extension: the data
// of the current read (downstream → upstream) and write (upstream → downstream) events, the
// connection's attributes, and closing it. Methods must be called on the connection's thread
// (or from a function run through Post); getters return copies owned by the caller.
type Connection interface {
	// ReadData and WriteData are the data of the latest read / write event (the connection's
	// read or write buffer while that event's filter call runs or holds it), nil before the
	// first such event.
	ReadData() Buffer
	WriteData() Buffer
	// ContinueReading resumes a read direction stopped by NetworkStop.
	ContinueReading()
	// Close closes the connection: flush writes pending data first, otherwise it is
	// dropped. details is recorded as the connection's termination details when the host can.
	Close(flush bool, details string)
	// Attribute returns one of Envoy's connection attributes ("source.address",
	// "destination.port", "connection.id", "upstream.address", …): a string or an int64.
	Attribute(name string) (any, bool)

	// Post runs fn later on the connection's thread (safe from any goroutine); functions
	// posted after the connection is gone are dropped.
	Post(fn func())
	Log(level LogLevel, msg string)
	LogEnabled(level LogLevel) bool
	Counter(id MetricID, delta uint64)
	Gauge(id MetricID, delta int64)
	Histogram(id MetricID, value uint64)
}

// NetworkStatus is what a connection event tells the host to do next.
type NetworkStatus int

const (
	// NetworkContinue passes the data (or the new connection) to the next filter.
	NetworkContinue NetworkStatus = iota
	// NetworkStop holds it: read data stays in the connection's buffer until
	// Connection.ContinueReading (or the next read event, which sees it again).
	NetworkStop
)

func (s NetworkStatus) String() string {
	if s == NetworkStop {
		return "Stop"
	}
	return "Continue"
}

// PeerType says which side closed: unknown, Envoy itself (local) or the peer (remote), as
// Proxy-Wasm's peer type.
type PeerType int

const (
	PeerUnknown PeerType = iota
	PeerLocal
	PeerRemote
)

// NetworkPlugin is implemented by a Plugin that can run as a network filter (Wasm); a plugin
// without it (Lua) is refused as one.
type NetworkPlugin interface {
	NewNetworkFilter(c Connection) NetworkFilter
}

// NetworkFilter is an extension's view of the events of one connection. Each method runs on
// the connection's thread; a panic is recovered by the core (ConnectionHandler).
type NetworkFilter interface {
	OnNewConnection() NetworkStatus
	// OnDownstreamData and OnUpstreamData see the data of a read / write event (n bytes,
	// Connection.ReadData / WriteData); end says the sending side half-closed.
	OnDownstreamData(n int, end bool) NetworkStatus
	OnUpstreamData(n int, end bool) NetworkStatus
	// OnDownstreamClose runs when the downstream connection closed (local or remote).
	OnDownstreamClose(peer PeerType)
	// OnDestroy releases the filter; no event follows it.
	OnDestroy()
}

// ErrNotNetwork rejects an extension that cannot run as a network filter.
var ErrNotNetwork = errors.New("only a Wasm extension can run as a network (L4) filter")

// NewNetworkConfig is NewConfig for a network filter: the extension must be a Wasm one (or a
// deny slot, which closes every connection); a Lua extension is refused.
func (r *Runtime) NewNetworkConfig(filterName string, raw []byte, host ConfigHost) (*Config, error) {
	ext, err := extconfig.Unmarshal(raw)
	if err != nil {
		return nil, fmt.Errorf("loading network filter %q: %w", filterName, err)
	}
	if ext.Wasm == nil && ext.Deny == nil {
		return nil, fmt.Errorf("loading network filter %q: extension %q: %w", filterName, ext.Name, ErrNotNetwork)
	}
	c, err := r.NewConfig(filterName, raw, host)
	if err != nil {
		return nil, err
	}
	if _, ok := c.plugin.(NetworkPlugin); c.plugin != nil && !ok {
		c.Close()
		return nil, fmt.Errorf("loading network filter %q: extension %q: %w", filterName, ext.Name, ErrNotNetwork)
	}
	return c, nil
}

// ConnectionHandler drives one extension for one connection; every call into the engine is
// guarded and the fail strategy decides what the connection sees: FAIL_OPEN passes its data
// on for the rest of the connection, FAIL_CLOSE closes it (as Envoy's Wasm network filter).
type ConnectionHandler struct {
	cfg      *Config
	conn     Connection
	filter   NetworkFilter
	disabled bool
	closed   bool // the fail strategy or a deny slot closed the connection
	// initFailed: the extension panicked while starting; the fail strategy applies at the new
	// connection (the connection cannot be closed before Envoy hands it to the filter).
	initFailed bool
}

// NewConnection starts the extension for one connection.
func (c *Config) NewConnection(conn Connection) *ConnectionHandler {
	h := &ConnectionHandler{cfg: c, conn: conn}
	np, _ := c.plugin.(NetworkPlugin)
	if np == nil {
		return h
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				h.logPanic(p)
				h.initFailed = true
			}
		}()
		h.filter = np.NewNetworkFilter(conn)
	}()
	return h
}

// NewConnectionEvent handles the new connection: a deny slot or a configuration whose VM did
// not start (fail-closed) closes it here.
func (h *ConnectionHandler) NewConnectionEvent() NetworkStatus {
	if h.cfg.startErr != nil {
		h.conn.Counter(h.cfg.stats.startFailed, 1)
		if h.cfg.ext.Deny == nil {
			h.conn.Counter(h.cfg.stats.failOpen, 1)
			h.disabled = true
			return NetworkContinue
		}
	}
	if d := h.cfg.ext.Deny; d != nil {
		h.conn.Counter(h.cfg.stats.denied, 1)
		h.closed, h.disabled = true, true
		h.conn.Close(false, "trafficext_extension_unavailable")
		return NetworkStop
	}
	if h.initFailed {
		h.initFailed = false
		return h.fail()
	}
	return h.call(func() NetworkStatus { return h.filter.OnNewConnection() })
}

// DownstreamData handles a read event of n bytes.
func (h *ConnectionHandler) DownstreamData(n int, end bool) NetworkStatus {
	return h.call(func() NetworkStatus {
		h.cfg.fault.maybePanicNetwork(h.conn, h.cfg.ext.Name)
		return h.filter.OnDownstreamData(n, end)
	})
}

// UpstreamData handles a write event of n bytes.
func (h *ConnectionHandler) UpstreamData(n int, end bool) NetworkStatus {
	return h.call(func() NetworkStatus { return h.filter.OnUpstreamData(n, end) })
}

// DownstreamClose tells the extension the downstream connection closed.
func (h *ConnectionHandler) DownstreamClose(peer PeerType) {
	if h.filter != nil && !h.disabled {
		h.guard(func() { h.filter.OnDownstreamClose(peer) })
	}
}

// Destroy releases the extension's connection state; no event may follow.
func (h *ConnectionHandler) Destroy() {
	if h.filter != nil {
		h.guard(func() { h.filter.OnDestroy() })
		h.filter = nil
	}
	h.disabled = true
}

func (h *ConnectionHandler) call(fn func() NetworkStatus) (st NetworkStatus) {
	if h.disabled || h.filter == nil {
		if h.closed {
			return NetworkStop
		}
		return NetworkContinue
	}
	defer func() {
		if p := recover(); p != nil {
			h.logPanic(p)
			st = h.fail()
		}
	}()
	return fn()
}

func (h *ConnectionHandler) guard(fn func()) {
	defer func() {
		if p := recover(); p != nil {
			h.logPanic(p)
		}
	}()
	fn()
}

func (h *ConnectionHandler) logPanic(p any) {
	h.conn.Counter(h.cfg.stats.panics, 1)
	h.conn.Log(LogError, fmt.Sprintf("trafficext: extension %q panicked on a connection: %v", h.cfg.ext.Name, p))
}

// fail skips the extension for the rest of the connection; FAIL_CLOSE also closes it.
func (h *ConnectionHandler) fail() NetworkStatus {
	h.disabled = true
	if h.cfg.ext.EffectiveFailStrategy() == extconfig.FailOpen {
		h.conn.Counter(h.cfg.stats.failOpen, 1)
		return NetworkContinue
	}
	h.conn.Counter(h.cfg.stats.failClose, 1)
	if !h.closed {
		h.closed = true
		h.conn.Close(true, "trafficext_extension_failed")
	}
	return NetworkStop
}

// maybePanicNetwork is FaultInjection for a connection: read data starting with
// "<panic-header>: <extension>" panics inside that extension (enabled as for HTTP).
func (f FaultInjection) maybePanicNetwork(c Connection, ext string) {
	if f.PanicHeader == "" {
		return
	}
	b := c.ReadData()
	if b == nil {
		return
	}
	line, _, _ := strings.Cut(string(b.Bytes()), "\n")
	k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
	if !ok || strings.ToLower(strings.TrimSpace(k)) != f.PanicHeader {
		return
	}
	if v = strings.TrimSpace(v); v == ext || v == ext[strings.LastIndexByte(ext, '/')+1:] {
		panic(InjectedPanic{Extension: ext})
	}
}
