package lua

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/trafficext/trafficext/core"
)

// buildMetatables creates the method tables of every host type once per state.
func (v *vm) buildMetatables() {
	v.mt.handle = v.handleClass()
	v.mt.headers = v.headersClass()
	v.mt.buffer = v.bufferClass()
	v.mt.streamInfo = v.streamInfoClass()
	v.mt.dynMeta = v.dynMetaClass()
	v.mt.filterState = v.filterStateClass()
	v.mt.metadata = v.metadataClass()
	v.mt.conn = v.connectionClass()
	v.mt.ssl = v.sslClass()
	v.mt.route = v.routeClass()
	v.mt.connSI = v.connStreamInfoClass()
	v.mt.connDM = v.connDynMetaClass()
}

// object returns the embedded userdata ud, binding it to val and mt on first use.
func (d *direction) object(ud *glua.LUserData, val any, mt *glua.LTable) *glua.LUserData {
	if d.epoch > 0 && ud != &d.uds.handle {
		// The embedded objects died at a yield: hand out fresh ones, one per kind until the
		// next yield.
		c := d.cacheSlot(ud)
		if c != nil && *c != nil {
			return *c
		}
		n := d.vm.newUD(val, mt)
		n.Env = d.vm.L.Env
		if c != nil {
			*c = n
		}
		return d.track(n)
	}
	if ud.Metatable == nil {
		ud.Value, ud.Env, ud.Metatable = val, d.vm.L.Env, mt
	}
	return ud
}

func checkHandle(L *glua.LState) *direction { return ownerOf(L) }

// objectMethod is a method pushing the object get returns for the calling direction.
func objectMethod(get func(d *direction) *glua.LUserData) glua.LGFunction {
	return func(L *glua.LState) int {
		L.Push(get(ownerOf(L)))
		return 1
	}
}

func (v *vm) handleClass() *glua.LTable {
	return v.class(map[string]glua.LGFunction{
		"headers":     objectMethod(func(d *direction) *glua.LUserData { return d.object(&d.uds.hdr, &d.hdr, d.vm.mt.headers) }),
		"streamInfo":  objectMethod(func(d *direction) *glua.LUserData { return d.object(&d.uds.si, d, d.vm.mt.streamInfo) }),
		"connection":  objectMethod(func(d *direction) *glua.LUserData { return d.object(&d.uds.conn, d, d.vm.mt.conn) }),
		"metadata":    objectMethod(func(d *direction) *glua.LUserData { return d.object(&d.uds.md, &d.md, d.vm.mt.metadata) }),
		"route":       objectMethod(func(d *direction) *glua.LUserData { return d.object(&d.uds.route, &d.route, d.vm.mt.route) }),
		"virtualHost": objectMethod(func(d *direction) *glua.LUserData { return d.object(&d.uds.vhost, &d.vhost, d.vm.mt.route) }),
		"filterContext": func(L *glua.LState) int {
			d := checkHandle(L)
			// No per-route LuaPerRoute config reaches this filter: always empty.
			L.Push(d.track(d.vm.newUD(&metadataObj{d: d, empty: true}, d.vm.mt.metadata)))
			return 1
		},
		"body":       bodyMethod,
		"bodyChunks": bodyChunksMethod,
		"trailers":   trailersMethod,
		"respond":    respondMethod,
		"httpCall":   httpCallMethod,
		"clearRouteCache": func(L *glua.LState) int {
			d := checkHandle(L)
			if !d.response {
				d.f.s.ClearRouteCache()
			}
			return 0
		},
		"base64Escape": func(L *glua.LState) int {
			checkHandle(L)
			L.Push(glua.LString(base64.StdEncoding.EncodeToString([]byte(L.CheckString(2)))))
			return 1
		},
		"timestamp": func(L *glua.LState) int {
			checkHandle(L)
			if u := optResolution(L); u != "" && !isResolution(u, 0) {
				L.RaiseError("timestamp format must be MILLISECOND.")
			}
			L.Push(glua.LNumber(time.Now().UnixMilli()))
			return 1
		},
		"timestampString": func(L *glua.LState) int {
			checkHandle(L)
			switch u := optResolution(L); {
			case u == "" || isResolution(u, 0):
				L.Push(glua.LString(strconv.FormatInt(time.Now().UnixMilli(), 10)))
			case isResolution(u, 1):
				L.Push(glua.LString(strconv.FormatInt(time.Now().UnixMicro(), 10)))
			default:
				L.RaiseError("timestamp format must be MILLISECOND or MICROSECOND.")
			}
			return 1
		},
		"setUpstreamOverrideHost": func(L *glua.LState) int {
			d := checkHandle(L)
			host := L.CheckString(2)
			if !isIPAuthority(host) {
				L.RaiseError("host is not a valid IP address")
			}
			if L.GetTop() >= 3 {
				L.CheckBool(3)
			}
			d.log(core.LogDebug, "trafficext: setUpstreamOverrideHost is not supported by this host; ignored")
			return 0
		},
		"connectionStreamInfo": objectMethod(func(d *direction) *glua.LUserData { return d.object(&d.uds.connSI, d, d.vm.mt.connSI) }),
		"importPublicKey":      importPublicKeyMethod,
		"verifySignature":      verifySignatureMethod,
	}, nil)
}

// optResolution reads the optional resolution argument (a number or a string).
func optResolution(L *glua.LState) string {
	switch x := L.Get(2).(type) {
	case glua.LNumber:
		return x.String()
	case glua.LString:
		return string(x)
	case *glua.LNilType:
		return ""
	}
	L.ArgError(2, "resolution expected")
	return ""
}

// isResolution matches EnvoyTimestampResolution values, passed as numbers or strings.
func isResolution(s string, want uint64) bool {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	return err == nil && n == want
}

// cacheSlot is where the fresh replacement of embedded object ud is kept until the next yield.
func (d *direction) cacheSlot(ud *glua.LUserData) **glua.LUserData {
	c := &d.epochUDs
	switch ud {
	case &d.uds.hdr:
		return &c.hdr
	case &d.uds.trl:
		return &c.trl
	case &d.uds.si:
		return &c.si
	case &d.uds.dm:
		return &c.dm
	case &d.uds.fs:
		return &c.fs
	case &d.uds.conn:
		return &c.conn
	case &d.uds.md:
		return &c.md
	case &d.uds.ssl:
		return &c.ssl
	case &d.uds.route:
		return &c.route
	case &d.uds.vhost:
		return &c.vhost
	case &d.uds.connSI:
		return &c.connSI
	case &d.uds.connDM:
		return &c.connDM
	}
	return nil
}
