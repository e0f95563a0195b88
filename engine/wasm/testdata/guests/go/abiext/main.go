// Command abiext is a Proxy-Wasm test guest for Envoy's property and extension foreign
// functions: declare_property, proxy_set_property / proxy_get_property,
// set_envoy_filter_state and the CEL functions expr_create / expr_evaluate / expr_delete.
// The request header x-op picks what it does; every result (a status text and the value,
// hex-encoded where it is binary) is returned in x-* response headers, so two hosts can be
// compared header by header.
package main

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct {
	types.DefaultPluginContext
	// start holds the results of the calls made in OnPluginStart (root context).
	start [][2]string
}

// Protobuf encoding of the foreign functions' argument messages.
func tag(num, typ byte) byte { return num<<3 | typ }

func pbString(num byte, s string) []byte {
	b := []byte{tag(num, 2)}
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func pbVarint(num byte, v uint64) []byte {
	return binary.AppendUvarint([]byte{tag(num, 0)}, v)
}

// declare serializes DeclarePropertyArguments.
func declare(name string, readonly bool, typ, span uint64) []byte {
	b := pbString(1, name)
	if readonly {
		b = append(b, pbVarint(2, 1)...)
	}
	b = append(b, pbVarint(3, typ)...)
	return append(b, pbVarint(5, span)...)
}

func status(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func foreign(name string, args []byte) string {
	out, err := proxywasm.CallForeignFunction(name, args)
	if err != nil {
		return status(err)
	}
	return "ok:" + hex.EncodeToString(out)
}

func get(path ...string) string {
	v, err := proxywasm.GetProperty(path)
	if err != nil {
		return status(err)
	}
	return "ok:" + hex.EncodeToString(v)
}

func set(value string, path ...string) string {
	return status(proxywasm.SetProperty(path, []byte(value)))
}

// celRun creates, evaluates and deletes expr and evaluates the deleted token once more.
func celRun(expr string) string {
	tok, err := proxywasm.CallForeignFunction("expr_create", []byte(expr))
	if err != nil {
		return "create " + status(err)
	}
	if len(tok) != 4 {
		return "create returned " + hex.EncodeToString(tok)
	}
	tok = append([]byte(nil), tok...)
	res := foreign("expr_evaluate", tok)
	del := foreign("expr_delete", tok)
	return res + " delete " + del + " again " + foreign("expr_evaluate", tok)
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	r := func(k, v string) { p.start = append(p.start, [2]string{k, v}) }
	r("x-start-declare-ro", foreign("declare_property", declare("ro_prop", true, 1, 0)))
	r("x-start-declare-dup", foreign("declare_property", declare("ro_prop", false, 0, 0)))
	r("x-start-declare-bytes", foreign("declare_property", declare("bytes_prop", false, 0, 1)))
	r("x-start-declare-odd", foreign("declare_property", declare("odd_prop", false, 9, 7)))
	r("x-start-declare-garbage", foreign("declare_property", []byte{0xff, 0xff}))
	r("x-start-set", set("v", "root_prop"))
	r("x-start-cel", celRun("1 + 2"))
	r("x-start-cel-stream-attr", celRun("request.path"))
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{p: p}
}

type httpContext struct {
	types.DefaultHttpContext
	p   *pluginContext
	out [][2]string
	// path / shape: the property the "attr" op reads in both directions.
	path, shape string
}

func (h *httpContext) r(k, v string) { h.out = append(h.out, [2]string{k, v}) }

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	op, _ := proxywasm.GetHttpRequestHeader("x-op")
	switch op {
	case "start":
		h.out = append(h.out, h.p.start...)
	case "props":
		h.r("x-set-my-1", set("v1", "my_prop"))
		h.r("x-get-my-1", get("my_prop"))
		h.r("x-set-my-2", set("v2", "my_prop"))
		h.r("x-get-my-2", get("my_prop"))
		h.r("x-fs-my", get("filter_state", "wasm.my_prop"))
		h.r("x-set-ro-1", set("first", "ro_prop"))
		h.r("x-set-ro-2", set("second", "ro_prop"))
		h.r("x-get-ro", get("ro_prop"))
		h.r("x-set-bytes", set("b", "bytes_prop"))
		h.r("x-get-bytes", get("bytes_prop"))
		h.r("x-get-missing", get("no_such_prop"))
		h.r("x-set-multi", set("x", "a", "b"))
		h.r("x-get-multi-a", get("a"))
		h.r("x-get-multi-ab", get("a", "b"))
		h.r("x-declare-stream", foreign("declare_property", declare("stream_decl", true, 0, 0)))
		h.r("x-declare-stream-dup", foreign("declare_property", declare("stream_decl", true, 0, 0)))
		h.r("x-set-stream-decl-1", set("s1", "stream_decl"))
		h.r("x-set-stream-decl-2", set("s2", "stream_decl"))
		h.r("x-get-header", get("request", "headers", "X-Op"))
		h.r("x-get-header-missing", get("request", "headers", "x-none"))
		h.r("x-get-path-deep", get("request", "path", "deeper"))
		h.r("x-get-plugin-root", get("plugin_root_id"))
		h.r("x-get-fs-missing", get("filter_state", "nothing.here"))
	case "envoyfs":
		args := append(pbString(1, "envoy.string"), pbString(2, "hello")...)
		h.r("x-efs-set", foreign("set_envoy_filter_state", args))
		h.r("x-efs-get", get("filter_state", "envoy.string"))
		h.r("x-efs-unknown", foreign("set_envoy_filter_state", append(pbString(1, "no.such.factory"), pbString(2, "x")...)))
		h.r("x-efs-garbage", foreign("set_envoy_filter_state", []byte{0x0a, 0x05, 'a'}))
		h.r("x-efs-bad-utf8", foreign("set_envoy_filter_state", append(pbString(1, "envoy.string"), 0x12, 0x01, 0xff)))
		h.r("x-efs-span", foreign("set_envoy_filter_state", append(append(pbString(1, "envoy.upstream.dynamic_host"), pbString(2, "h.example")...), pbVarint(3, 1)...)))
		h.r("x-efs-get-host", get("filter_state", "envoy.upstream.dynamic_host"))
		h.r("x-efs-cel", celRun("filter_state['envoy.string']"))
	case "envoyfs-typed":
		args := append(pbString(1, "envoy.network.upstream_server_name"), pbString(2, "sni.example")...)
		h.r("x-efs-typed", foreign("set_envoy_filter_state", args))
		twice := append(pbString(1, "envoy.string"), pbString(2, "first")...)
		foreign("set_envoy_filter_state", twice)
		twice = append(pbString(1, "envoy.string"), pbString(2, "second")...)
		h.r("x-efs-twice", foreign("set_envoy_filter_state", twice))
		h.r("x-efs-twice-get", get("filter_state", "envoy.string"))
	case "cel":
		expr, _ := proxywasm.GetHttpRequestHeader("x-expr")
		h.r("x-set-for-cel", set("celval", "ro_prop")+","+set("raw", "bytes_prop"))
		h.r("x-cel", celRun(expr))
	case "attr":
		// x-path: one property path, segments separated by '/'; x-shape: report only the
		// status and the value's length (for values that differ between listeners).
		h.attr("x-attr-req")
	case "cel-args":
		h.r("x-cel-short", foreign("expr_evaluate", []byte{1, 2, 3}))
		h.r("x-cel-unknown", foreign("expr_evaluate", []byte{9, 9, 9, 9}))
		h.r("x-cel-delete-unknown", foreign("expr_delete", []byte{9, 9, 9, 9}))
		h.r("x-cel-delete-short", foreign("expr_delete", nil))
		h.r("x-cel-syntax", foreign("expr_create", []byte("1 +")))
	}
	return types.ActionContinue
}

// attr reads the property x-path names (segments separated by '/') and reports it in
// header k; with x-shape only the status and the value's length are reported (for values
// that differ between listeners: ports, ids, times).
func (h *httpContext) attr(k string) {
	h.path, _ = proxywasm.GetHttpRequestHeader("x-path")
	if h.path == "" {
		return
	}
	h.shape, _ = proxywasm.GetHttpRequestHeader("x-shape")
	h.readAttr(k)
}

func (h *httpContext) readAttr(k string) {
	v, err := proxywasm.GetProperty(strings.Split(h.path, "/"))
	switch {
	case h.shape != "":
		h.r(k, status(err)+":"+strconv.Itoa(len(v)))
	case err != nil:
		h.r(k, status(err))
	default:
		h.r(k, "ok:"+hex.EncodeToString(v))
	}
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	if h.path != "" {
		h.readAttr("x-attr-resp")
	}
	for _, kv := range h.out {
		proxywasm.ReplaceHttpResponseHeader(kv[0], kv[1])
	}
	return types.ActionContinue
}
