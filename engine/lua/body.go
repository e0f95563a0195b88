package lua

import (
	"strconv"

	glua "github.com/yuin/gopher-lua"

	"github.com/trafficext/trafficext/core"
)

// bufferObj is the buffer object (Envoy's BufferWrapper) over the buffered body or one chunk.
type bufferObj struct {
	d   *direction
	buf core.Buffer
}

func (b *bufferObj) dir() *direction { return b.d }

func (d *direction) body() core.Buffer {
	if d.response {
		return d.f.s.ResponseBody()
	}
	return d.f.s.RequestBody()
}

func (d *direction) bufferUD(buf core.Buffer, _ bool) *glua.LUserData {
	if buf == nil {
		buf = &localBuffer{}
	}
	return d.track(d.vm.newUD(&bufferObj{d: d, buf: buf}, d.vm.mt.buffer))
}

// bodyValue is what body() returns once the body is complete: the buffered body, or nil when
// there is none (unless always_wrap_body asked for an empty buffer).
func (d *direction) bodyValue() glua.LValue {
	if d.bodyUD != nil {
		return d.bodyUD
	}
	buf := d.body()
	if buf == nil || (!d.sawBody && buf.Len() == 0) {
		if !d.alwaysWrapBody {
			return glua.LNil
		}
	}
	d.bodyUD = d.bufferUD(buf, true)
	return d.bodyUD
}

func (d *direction) trailersValue() glua.LValue {
	if d.trailers == nil {
		return glua.LNil
	}
	return d.object(&d.uds.trl, &d.trl, d.vm.mt.headers)
}

// bodyMethod is handle:body([always_wrap_body]).
func bodyMethod(L *glua.LState) int {
	d := checkHandle(L)
	if L.GetTop() >= 2 {
		d.alwaysWrapBody = L.CheckBool(2)
	}
	if d.endStream {
		if !d.bufferedBody && d.sawBody {
			L.RaiseError("cannot call body() after body has been streamed")
		}
		L.Push(d.bodyValue())
		return 1
	}
	if d.sawBody {
		L.RaiseError("cannot call body() after body streaming has started")
	}
	d.bufferedBody = true
	return d.yield(L, stWaitBody)
}

// bodyChunksMethod is handle:bodyChunks(): an iterator that yields for each chunk.
func bodyChunksMethod(L *glua.LState) int {
	d := checkHandle(L)
	if d.sawBody {
		L.RaiseError("cannot call bodyChunks after body processing has begun")
	}
	L.Push(L.NewFunction(d.vm.guard(func(L *glua.LState) int {
		if !d.live {
			L.RaiseError("object used outside of proper scope")
		}
		if d.endStream {
			return 0
		}
		return d.yield(L, stWaitChunk)
	})))
	return 1
}

// trailersMethod is handle:trailers().
func trailersMethod(L *glua.LState) int {
	d := checkHandle(L)
	if d.trailers != nil {
		L.Push(d.trailersValue())
		return 1
	}
	if d.endStream {
		return 0
	}
	return d.yield(L, stWaitTrailers)
}

func checkBuffer(L *glua.LState) *bufferObj {
	ownerOf(L)
	return L.Get(1).(*glua.LUserData).Value.(*bufferObj)
}

func (v *vm) bufferClass() *glua.LTable {
	return v.class(map[string]glua.LGFunction{
		"length": func(L *glua.LState) int {
			b := checkBuffer(L)
			L.Push(glua.LNumber(b.buf.Len()))
			return 1
		},
		"getBytes": func(L *glua.LState) int {
			b := checkBuffer(L)
			i, n := L.CheckInt(2), L.CheckInt(3)
			size := b.buf.Len()
			if i < 0 || n < 0 || i > size || n > size-i {
				L.RaiseError("index/length must be >= 0 and (index + length) must be <= buffer size")
			}
			L.Push(glua.LString(b.buf.Bytes()[i : i+n]))
			return 1
		},
		"setBytes": func(L *glua.LState) int {
			b := checkBuffer(L)
			s := L.CheckString(2)
			b.buf.Set([]byte(s))
			b.d.hdr.m().Set("content-length", strconv.Itoa(len(s)))
			L.Push(glua.LNumber(len(s)))
			return 1
		},
	}, nil)
}

// localBuffer backs body(true) when the stream has no body buffer at all.
type localBuffer struct{ b []byte }

func (l *localBuffer) Len() int        { return len(l.b) }
func (l *localBuffer) Bytes() []byte   { return append([]byte(nil), l.b...) }
func (l *localBuffer) Append(p []byte) { l.b = append(l.b, p...) }
func (l *localBuffer) Drain(n int)     { l.b = l.b[min(n, len(l.b)):] }
func (l *localBuffer) Set(p []byte)    { l.b = append(l.b[:0], p...) }
