package golang

// A fake of the contrib golang filter's Go API that simulates Envoy's HTTP filter chain for one
// request: decode through the filters in order, the upstream, encode in reverse order. It
// enforces the rules of the real filter that the binding must respect: header maps may only
// be touched while their phase is processed in Go (reads after the phase only work from a copy
// made in the phase), a buffer only during its data event or while Go holds the direction,
// Continue only from outside the callback that returned api.Running, and a local reply during
// a callback must be answered with api.LocalReply.

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/trafficext/trafficext/host/contract"
)

func TestMain(m *testing.M) {
	api.SetCommonCAPI(packageLog)
	os.Exit(m.Run())
}

// packageLog stands in for Envoy's golang logger (api.Log*).
var packageLog = &fakeLog{}

type fakeLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *fakeLog) Log(level api.LogType, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, level.String()+": "+msg)
}

func (l *fakeLog) LogLevel() api.LogType { return api.Trace }

func (l *fakeLog) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.lines, func(line string) bool { return strings.Contains(line, s) })
}

// --- config callbacks and metrics ---

type fakeConfigCallbacks struct {
	mu      sync.Mutex
	metrics map[string]*fakeMetric
}

func newFakeConfigCallbacks() *fakeConfigCallbacks {
	return &fakeConfigCallbacks{metrics: map[string]*fakeMetric{}}
}

func (c *fakeConfigCallbacks) define(name string) *fakeMetric {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.metrics[name]; ok {
		return m
	}
	m := &fakeMetric{}
	c.metrics[name] = m
	return m
}

func (c *fakeConfigCallbacks) DefineCounterMetric(name string) api.CounterMetric {
	return c.define(name)
}
func (c *fakeConfigCallbacks) DefineGaugeMetric(name string) api.GaugeMetric { return c.define(name) }

func (c *fakeConfigCallbacks) value(name string) uint64 {
	c.mu.Lock()
	m := c.metrics[name]
	c.mu.Unlock()
	if m == nil {
		return 0
	}
	return m.Get()
}

type fakeMetric struct {
	mu sync.Mutex
	v  int64
}

func (m *fakeMetric) Increment(d int64) { m.mu.Lock(); m.v += d; m.mu.Unlock() }
func (m *fakeMetric) Get() uint64       { m.mu.Lock(); defer m.mu.Unlock(); return uint64(m.v) }
func (m *fakeMetric) Record(v uint64)   { m.mu.Lock(); m.v = int64(v); m.mu.Unlock() }

// --- the request shared by the filters of the chain ---

// fakeRequest is one HTTP stream in the fake Envoy.
type fakeRequest struct {
	t  testing.TB
	mu sync.Mutex // guards everything below; goroutines of the binding use the APIs too

	reqHeaders, respHeaders *headerStore
	reqBody, respBody       []byte
	metadata                map[string]map[string]*structpb.Value
	filterState             map[string]string
	filterLogs              []string
}

// headerStore is one Envoy header map (ordered entries), shared by the filters' views.
type headerStore struct{ entries []contract.Header }

func (s *headerStore) values(k string) []string {
	var vs []string
	for _, e := range s.entries {
		if e.Name == k {
			vs = append(vs, e.Value)
		}
	}
	return vs
}

func (s *headerStore) del(k string) {
	s.entries = slices.DeleteFunc(s.entries, func(e contract.Header) bool { return e.Name == k })
}

func (s *headerStore) set(k, v string) {
	i := slices.IndexFunc(s.entries, func(e contract.Header) bool { return e.Name == k })
	s.del(k)
	if i < 0 || i > len(s.entries) {
		i = len(s.entries)
	}
	s.entries = slices.Insert(s.entries, i, contract.Header{Name: k, Value: v})
}

func (s *headerStore) asMap(withPseudo bool) map[string][]string {
	m := map[string][]string{}
	for _, e := range s.entries {
		if withPseudo || !strings.HasPrefix(e.Name, ":") {
			m[e.Name] = append(m[e.Name], e.Value)
		}
	}
	return m
}

// --- one filter of the chain ---

// event is what a goroutine of the binding tells the fake Envoy, posted like the real
// golang filter posts Continue and SendLocalReply to the worker thread.
type event struct {
	continued bool
	status    api.StatusType
}

// localReply is a response sent with SendLocalReply.
type localReply struct {
	status  int
	body    string
	headers map[string][]string
	details string
}

// slot is one golang filter instance in the chain.
type slot struct {
	req    *fakeRequest
	index  int
	filter api.StreamFilter

	// guarded by req.mu
	inCall  bool // a callback runs on the goroutine callerG (Envoy's worker thread)
	callerG int64
	live    [2]bool // the direction's header map may be touched
	bufLive [2]bool // the direction's buffer may be touched
	reply   *localReply
	replied bool // the reply was sent by the callback itself

	events chan event
}

func (s *slot) process(d direction) *fakeProcess { return &fakeProcess{slot: s, dir: d} }

// call runs one callback of the filter in direction d.
func (s *slot) call(d direction, fn func() api.StatusType) api.StatusType {
	s.req.mu.Lock()
	s.inCall, s.callerG, s.reply, s.replied = true, goroutineID(), nil, false
	s.req.mu.Unlock()
	st := fn()
	s.req.mu.Lock()
	defer s.req.mu.Unlock()
	s.inCall = false
	if s.replied && st != api.LocalReply {
		s.req.t.Errorf("filter %d: sent a local reply but returned status %d", s.index, st)
	}
	if st == api.LocalReply && !s.replied {
		s.req.t.Errorf("filter %d: returned LocalReply without sending one", s.index)
	}
	return st
}

// onWorker reports whether the caller is the callback running on the worker thread; other
// callers are goroutines, whose Continue and SendLocalReply the real filter posts to the
// worker.
func (s *slot) onWorker() bool { return s.inCall && s.callerG == goroutineID() }

func goroutineID() int64 {
	var buf [64]byte
	f := strings.Fields(string(buf[:runtime.Stack(buf[:], false)])) // "goroutine 12 [running]: …"
	id, _ := strconv.ParseInt(f[1], 10, 64)
	return id
}

// await waits for the outcome of a held direction: a Continue or a local reply from a
// goroutine. Such events are only valid for a direction the filter held (api.Running).
func (s *slot) await(d direction, st api.StatusType) api.StatusType {
	if st != api.Running {
		select {
		case <-s.events:
			s.req.t.Errorf("filter %d: asynchronous Continue or local reply on direction %d that was not held (status %d)", s.index, d, st)
		default:
		}
		return st
	}
	select {
	case ev := <-s.events:
		if ev.continued {
			return ev.status
		}
		return api.LocalReply
	case <-time.After(5 * time.Second):
		s.req.t.Errorf("filter %d: direction %d held (api.Running) and never resumed", s.index, d)
		return api.LocalReply
	}
}

// live reports whether direction d's header map may be touched; on a read, a map already
// copied into Go may still be read.
func (s *slot) check(d direction, what string) {
	if !s.live[d] {
		panic(fmt.Sprintf("filter %d: %s of direction %d outside its phase: invalid phase, maybe headers/buffer already continued", s.index, what, d))
	}
}

// --- api.FilterCallbackHandler ---

type fakeCallbacks struct{ s *slot }

var _ api.FilterCallbackHandler = fakeCallbacks{}

func (c fakeCallbacks) StreamInfo() api.StreamInfo { return fakeStreamInfo(c) }
func (c fakeCallbacks) ClearRouteCache()           {}
func (c fakeCallbacks) RefreshRouteCache()         {}
func (c fakeCallbacks) Log(level api.LogType, msg string) {
	c.s.req.mu.Lock()
	defer c.s.req.mu.Unlock()
	c.s.req.filterLogs = append(c.s.req.filterLogs, fmt.Sprintf("[%d] %s: %s", c.s.index, level, msg))
}
func (c fakeCallbacks) LogLevel() api.LogType { return api.Debug }
func (c fakeCallbacks) GetProperty(key string) (string, error) {
	r := c.s.req
	r.mu.Lock()
	defer r.mu.Unlock()
	first := func(h *headerStore, k string) (string, error) {
		if h == nil || len(h.values(k)) == 0 {
			return "", api.ErrValueNotFound
		}
		return h.values(k)[0], nil
	}
	switch key {
	case "request.path":
		return first(r.reqHeaders, ":path")
	case "request.method":
		return first(r.reqHeaders, ":method")
	case "request.host":
		return first(r.reqHeaders, ":authority")
	case "response.code":
		return first(r.respHeaders, ":status")
	case "source.port":
		return "52000", nil
	}
	return "", api.ErrValueNotFound
}
func (c fakeCallbacks) SecretManager() api.SecretManager { return fakeSecrets{} }
func (c fakeCallbacks) DecoderFilterCallbacks() api.DecoderFilterCallbacks {
	return c.s.process(decoding)
}
func (c fakeCallbacks) EncoderFilterCallbacks() api.EncoderFilterCallbacks {
	return c.s.process(encoding)
}

type fakeSecrets struct{}

func (fakeSecrets) GetGenericSecret(string) (string, bool) { return "", false }

// fakeProcess is the Decoder/EncoderFilterCallbacks of one direction.
type fakeProcess struct {
	*slot
	dir direction
}

func (p *fakeProcess) Continue(st api.StatusType) {
	r := p.req
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.onWorker() {
		r.t.Errorf("filter %d: Continue(%d) inside a callback", p.index, st)
		return
	}
	p.live[p.dir], p.bufLive[p.dir] = false, false
	p.events <- event{continued: true, status: st}
}

func (p *fakeProcess) SendLocalReply(code int, body string, headers map[string][]string, grpcStatus int64, details string) {
	r := p.req
	r.mu.Lock()
	defer r.mu.Unlock()
	p.reply = &localReply{status: code, body: body, headers: headers, details: details}
	p.live[p.dir], p.bufLive[p.dir] = false, false
	if p.onWorker() {
		p.replied = true
	} else {
		p.events <- event{}
	}
}

func (p *fakeProcess) RecoverPanic()                              {}
func (p *fakeProcess) AddData([]byte, bool)                       { panic("AddData: not faked") }
func (p *fakeProcess) InjectData([]byte)                          { panic("InjectData: not faked") }
func (p *fakeProcess) SetUpstreamOverrideHost(string, bool) error { return nil }

// --- StreamInfo, DynamicMetadata, FilterState ---

type fakeStreamInfo fakeCallbacks

func (i fakeStreamInfo) GetRouteName() string                  { return "contract" }
func (i fakeStreamInfo) FilterChainName() string               { return "" }
func (i fakeStreamInfo) Protocol() (string, bool)              { return "HTTP/1.1", true }
func (i fakeStreamInfo) ResponseCode() (uint32, bool)          { return 0, false }
func (i fakeStreamInfo) ResponseCodeDetails() (string, bool)   { return "", false }
func (i fakeStreamInfo) AttemptCount() uint32                  { return 1 }
func (i fakeStreamInfo) DynamicMetadata() api.DynamicMetadata  { return fakeMetadata{i.s.req} }
func (i fakeStreamInfo) DownstreamLocalAddress() string        { return "127.0.0.1:10000" }
func (i fakeStreamInfo) DownstreamRemoteAddress() string       { return "127.0.0.1:52000" }
func (i fakeStreamInfo) UpstreamLocalAddress() (string, bool)  { return "", false }
func (i fakeStreamInfo) UpstreamRemoteAddress() (string, bool) { return "", false }
func (i fakeStreamInfo) UpstreamClusterName() (string, bool)   { return "upstream", true }
func (i fakeStreamInfo) FilterState() api.FilterState          { return fakeFilterState{i.s.req} }
func (i fakeStreamInfo) VirtualClusterName() (string, bool)    { return "", false }
func (i fakeStreamInfo) WorkerID() uint32                      { return 0 }

type fakeMetadata struct{ r *fakeRequest }

func (m fakeMetadata) Get(ns string) map[string]any {
	m.r.mu.Lock()
	defer m.r.mu.Unlock()
	return (&structpb.Struct{Fields: m.r.metadata[ns]}).AsMap()
}

func (m fakeMetadata) Set(ns, key string, value any) {
	v, err := structpb.NewValue(value) // the real filter panics the same way
	if err != nil {
		panic(err)
	}
	m.r.mu.Lock()
	defer m.r.mu.Unlock()
	if m.r.metadata[ns] == nil {
		m.r.metadata[ns] = map[string]*structpb.Value{}
	}
	m.r.metadata[ns][key] = v
}

type fakeFilterState struct{ r *fakeRequest }

func (f fakeFilterState) SetString(key, value string, _ api.StateType, _ api.LifeSpan, _ api.StreamSharing) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	f.r.filterState[key] = value
}

func (f fakeFilterState) GetString(key string) string {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	return f.r.filterState[key]
}

// --- header maps ---

// fakeHeaders is one filter's view of a header map, with the real filter's phase rules:
// writes only in the phase; reads in the phase, or later if the view copied the map into Go
// during the phase (the real map caches its copy).
type fakeHeaders struct {
	s      *slot
	dir    direction
	store  *headerStore
	copied bool
}

var (
	_ api.RequestHeaderMap  = (*fakeHeaders)(nil)
	_ api.ResponseHeaderMap = (*fakeHeaders)(nil)
)

func (h *fakeHeaders) read() {
	if !h.copied {
		h.s.check(h.dir, "header read")
		h.copied = true
	}
}

func (h *fakeHeaders) GetRaw(k string) string { v, _ := h.Get(k); return v }
func (h *fakeHeaders) Get(k string) (string, bool) {
	vs := h.Values(k)
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}
func (h *fakeHeaders) Values(k string) []string {
	h.s.req.mu.Lock()
	defer h.s.req.mu.Unlock()
	h.read()
	return h.store.values(strings.ToLower(k))
}
func (h *fakeHeaders) write(op string, fn func()) {
	h.s.req.mu.Lock()
	defer h.s.req.mu.Unlock()
	h.s.check(h.dir, "header "+op)
	h.copied = true
	fn()
}
func (h *fakeHeaders) Set(k, v string) {
	h.write("set", func() { h.store.set(strings.ToLower(k), v) })
}
func (h *fakeHeaders) Add(k, v string) {
	h.write("add", func() {
		h.store.entries = append(h.store.entries, contract.Header{Name: strings.ToLower(k), Value: v})
	})
}
func (h *fakeHeaders) Del(k string) { h.write("del", func() { h.store.del(strings.ToLower(k)) }) }
func (h *fakeHeaders) Range(f func(k, v string) bool) {
	for k, vs := range h.GetAllHeaders() {
		for _, v := range vs {
			if !f(k, v) {
				return
			}
		}
	}
}
func (h *fakeHeaders) RangeWithCopy(f func(k, v string) bool) { h.Range(f) }
func (h *fakeHeaders) GetAllHeaders() map[string][]string {
	h.s.req.mu.Lock()
	defer h.s.req.mu.Unlock()
	h.read()
	return h.store.asMap(true)
}
func (h *fakeHeaders) Scheme() string     { v, _ := h.Get(":scheme"); return v }
func (h *fakeHeaders) Method() string     { v, _ := h.Get(":method"); return v }
func (h *fakeHeaders) Host() string       { v, _ := h.Get(":authority"); return v }
func (h *fakeHeaders) Path() string       { v, _ := h.Get(":path"); return v }
func (h *fakeHeaders) SetMethod(v string) { h.Set(":method", v) }
func (h *fakeHeaders) SetHost(v string)   { h.Set(":authority", v) }
func (h *fakeHeaders) SetPath(v string)   { h.Set(":path", v) }
func (h *fakeHeaders) Status() (int, bool) {
	v, ok := h.Get(":status")
	n, err := strconv.Atoi(v)
	return n, ok && err == nil
}

// --- buffers ---

// fakeBuffer is one data event's buffer over the request's or response's body.
type fakeBuffer struct {
	s    *slot
	dir  direction
	body *[]byte
}

var _ api.BufferInstance = (*fakeBuffer)(nil)

func (b *fakeBuffer) do(fn func()) {
	b.s.req.mu.Lock()
	defer b.s.req.mu.Unlock()
	if !b.s.bufLive[b.dir] {
		panic(fmt.Sprintf("filter %d: buffer of direction %d used outside its data event: invalid phase", b.s.index, b.dir))
	}
	fn()
}

func (b *fakeBuffer) Write(p []byte) (int, error) { b.Append(p); return len(p), nil }
func (b *fakeBuffer) WriteString(s string) (int, error) {
	b.Append([]byte(s))
	return len(s), nil
}
func (b *fakeBuffer) WriteByte(c byte) error { return b.Append([]byte{c}) }
func (b *fakeBuffer) WriteUint16(p uint16) error {
	return b.AppendString(strconv.FormatUint(uint64(p), 10))
}
func (b *fakeBuffer) WriteUint32(p uint32) error {
	return b.AppendString(strconv.FormatUint(uint64(p), 10))
}
func (b *fakeBuffer) WriteUint64(p uint64) error { return b.AppendString(strconv.FormatUint(p, 10)) }
func (b *fakeBuffer) Bytes() (out []byte)        { b.do(func() { out = slices.Clone(*b.body) }); return out }
func (b *fakeBuffer) Drain(n int)                { b.do(func() { *b.body = (*b.body)[min(n, len(*b.body)):] }) }
func (b *fakeBuffer) Len() (n int)               { b.do(func() { n = len(*b.body) }); return n }
func (b *fakeBuffer) Reset()                     { b.do(func() { *b.body = nil }) }
func (b *fakeBuffer) String() string             { return string(b.Bytes()) }
func (b *fakeBuffer) Append(d []byte) error {
	b.do(func() { *b.body = append(*b.body, d...) })
	return nil
}
func (b *fakeBuffer) Set(d []byte) error       { b.do(func() { *b.body = slices.Clone(d) }); return nil }
func (b *fakeBuffer) SetString(s string) error { return b.Set([]byte(s)) }
func (b *fakeBuffer) Prepend(d []byte) error {
	b.do(func() { *b.body = append(slices.Clone(d), *b.body...) })
	return nil
}
func (b *fakeBuffer) PrependString(s string) error { return b.Prepend([]byte(s)) }
func (b *fakeBuffer) AppendString(s string) error  { return b.Append([]byte(s)) }
