package lua

import (
	"strconv"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/trafficext/trafficext/core"
)

// calloutState tracks a synchronous httpCall.
type calloutState struct {
	inline     bool                  // HTTPCall has not returned yet
	resp       *core.CalloutResponse // a response delivered while inline
	duplicates bool                  // return_duplicate_headers
}

// respondMethod is handle:respond(headers, body).
func respondMethod(L *glua.LState) int {
	d := checkHandle(L)
	if d.response {
		L.RaiseError("respond not currently supported in the response path")
	}
	if d.headersContinued {
		L.RaiseError("respond() cannot be called if headers have been continued")
	}
	t := L.CheckTable(2)
	var body []byte
	if L.GetTop() >= 3 && L.Get(3) != glua.LNil {
		body = []byte(L.CheckString(3))
	}
	headers := headersFromTable(L, t)
	status := 0
	out := headers[:0]
	for _, h := range headers {
		if h.Key == ":status" {
			status, _ = strconv.Atoi(h.Value)
			continue
		}
		out = append(out, h)
	}
	if status < 200 || status >= 600 {
		L.RaiseError(":status must be between 200-599")
	}
	// content-length is left to the host, which sizes the local reply itself.
	d.st = stResponded
	d.repliedNow = true
	// Decide before sending: outside a stream event the host may finish (and destroy) the
	// stream inside SendLocalReply.
	canYield := d.canYield(L)
	reply := core.LocalReply{Status: status, Headers: out, Body: body, Details: "lua_response"}
	if d.f.p.hasResponse {
		reply = d.f.throughResponseHook(reply)
	}
	d.f.s.SendLocalReply(reply)
	if !canYield {
		// Inside pcall or a metamethod the script cannot be stopped here; the reply is sent
		// and whatever the script does next is ignored by the stream.
		return 0
	}
	return L.Yield()
}

// headersFromTable reads a header table: keys lowercased, values strings or arrays of strings.
func headersFromTable(L *glua.LState, t *glua.LTable) []core.Header {
	var hs []core.Header
	t.ForEach(func(k, v glua.LValue) {
		key := asciiLower(luaString(L, k))
		switch x := v.(type) {
		case *glua.LTable:
			for i := 1; i <= x.Len(); i++ {
				hs = append(hs, core.Header{Key: key, Value: luaString(L, x.RawGetInt(i))})
			}
		default:
			hs = append(hs, core.Header{Key: key, Value: luaString(L, v)})
		}
	})
	return hs
}

func luaString(L *glua.LState, v glua.LValue) string {
	switch x := v.(type) {
	case glua.LString:
		return string(x)
	case glua.LNumber:
		return x.String()
	}
	L.RaiseError("string expected, got %s", v.Type().String())
	return ""
}

// httpCallMethod is handle:httpCall(cluster, headers, body, timeout_ms[, asynchronous]) or
// handle:httpCall(cluster, headers, body, options).
func httpCallMethod(L *glua.LState) int {
	d := checkHandle(L)
	async, duplicates := false, false
	var timeout time.Duration
	if opts, ok := L.Get(5).(*glua.LTable); ok {
		opts.ForEach(func(k, v glua.LValue) {
			switch key := luaString(L, k); key {
			case "asynchronous":
				async = glua.LVAsBool(v) // lua_toboolean, as Envoy reads it
			case "timeout_ms":
				ms, ok := v.(glua.LNumber)
				if !ok || ms < 0 {
					L.RaiseError("http call timeout must be >= 0")
				}
				timeout = time.Duration(ms) * time.Millisecond
			case "return_duplicate_headers":
				duplicates = glua.LVAsBool(v)
			case "trace_sampled", "send_xff":
				// Tracing and XFF are the host's business; accepted.
			default:
				L.RaiseError("%q is not valid key for httpCall() options", key)
			}
		})
	} else {
		if L.GetTop() >= 6 {
			if _, ok := L.Get(6).(glua.LBool); !ok && L.Get(6) != glua.LNil {
				L.RaiseError("http call asynchronous flag must be 'true', 'false', or empty")
			}
		}
		ms := L.CheckInt(5)
		if ms < 0 {
			L.RaiseError("http call timeout must be >= 0")
		}
		timeout = time.Duration(ms) * time.Millisecond
		async = L.Get(6) == glua.LTrue
	}
	cluster := L.CheckString(2)
	if cluster == "" {
		L.RaiseError("http call cluster invalid. Must be configured")
	}
	req := core.CalloutRequest{Cluster: cluster, Headers: headersFromTable(L, L.CheckTable(3)), Timeout: timeout}
	if !hasCalloutHeaders(req.Headers) {
		L.RaiseError("http call headers must include ':path', ':method', and ':authority'")
	}
	if s, ok := L.Get(4).(glua.LString); ok {
		req.Body = []byte(s)
		req.Headers = append(req.Headers, core.Header{Key: "content-length", Value: strconv.Itoa(len(s))})
	}
	if async {
		if err := d.f.s.HTTPCall(req, func(core.CalloutResponse) {}); err != nil {
			d.log(core.LogDebug, "trafficext: asynchronous httpCall: "+err.Error())
			L.RaiseError("http call cluster invalid. Must be configured")
		}
		return 0
	}
	if !d.canYield(L) {
		// The call cannot wait here (inside a metamethod or a Go-called callback). Envoy checks
		// the cluster first, so an unknown cluster still reads as such; otherwise the call
		// goes out, its answer is dropped, and the script gets the yield error.
		if err := d.f.s.HTTPCall(req, func(core.CalloutResponse) {}); err != nil {
			d.log(core.LogDebug, "trafficext: httpCall: "+err.Error())
			L.RaiseError("http call cluster invalid. Must be configured")
		}
		L.RaiseError("attempt to yield across a C-call boundary (synchronous httpCall inside a metamethod, a sort comparator or a gsub callback)")
	}
	d.callout = calloutState{inline: true, duplicates: duplicates}
	if err := d.f.s.HTTPCall(req, d.onCallout); err != nil {
		d.callout = calloutState{}
		d.log(core.LogDebug, "trafficext: httpCall: "+err.Error())
		L.RaiseError("http call cluster invalid. Must be configured")
	}
	d.callout.inline = false
	if r := d.callout.resp; r != nil {
		d.callout.resp = nil
		h, b := d.calloutResults(L, *r)
		L.Push(h)
		L.Push(b)
		return 2
	}
	d.st = stHTTPCall
	d.killObjects()
	return L.Yield()
}

func hasCalloutHeaders(hs []core.Header) bool {
	var path, method, authority bool
	for _, h := range hs {
		switch h.Key {
		case ":path":
			path = true
		case ":method":
			method = true
		case ":authority", "host":
			authority = true
		}
	}
	return path && method && authority
}

// onCallout receives the callout's response on the stream's thread.
func (d *direction) onCallout(r core.CalloutResponse) {
	if d.callout.inline {
		d.callout.resp = &r
		return
	}
	if d.st != stHTTPCall || d.vm == nil {
		return
	}
	h, b := d.calloutResults(d.vm.L, r)
	d.resumeAsync(h, b)
}

// calloutResults are httpCall's return values: a header table and the body (nil when empty).
// A failed call looks like Envoy's synthetic 503 "upstream failure".
func (d *direction) calloutResults(L *glua.LState, r core.CalloutResponse) (glua.LValue, glua.LValue) {
	if r.Err != nil {
		r = core.CalloutResponse{Headers: []core.Header{{Key: ":status", Value: "503"}}, Body: []byte("upstream failure")}
	}
	t := L.CreateTable(0, len(r.Headers))
	for _, h := range r.Headers {
		if !d.callout.duplicates {
			t.RawSetString(h.Key, glua.LString(h.Value))
			continue
		}
		switch cur := t.RawGetString(h.Key).(type) {
		case *glua.LNilType:
			t.RawSetString(h.Key, glua.LString(h.Value))
		case *glua.LTable:
			cur.Append(glua.LString(h.Value))
		default:
			arr := L.CreateTable(2, 0)
			arr.Append(cur)
			arr.Append(glua.LString(h.Value))
			t.RawSetString(h.Key, arr)
		}
	}
	if len(r.Body) == 0 {
		return t, glua.LNil
	}
	return t, glua.LString(r.Body)
}
