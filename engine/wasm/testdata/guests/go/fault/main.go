// Command fault is the Go twin of the C fault guest (c/fault): x-fault: trap panics (the Go
// runtime ends a wasip1 panic with proc_exit); x-fault: loop spins forever; otherwise
// x-vm-requests returns how many requests this VM instance has served (it restarts at 1 on a
// fresh VM).
package main

import (
	"strconv"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() { proxywasm.SetVMContext(&vmContext{}) }

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct{ types.DefaultPluginContext }

// served counts the requests of this VM instance; sink keeps the loop from being removed.
var served, sink int

func (*pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{} }

type httpContext struct{ types.DefaultHttpContext }

func (*httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	served++
	switch v, _ := proxywasm.GetHttpRequestHeader("x-fault"); v {
	case "trap":
		panic("fault guest: x-fault: trap")
	case "loop":
		for {
			sink++
		}
	}
	return types.ActionContinue
}

func (*httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	proxywasm.ReplaceHttpResponseHeader("x-vm-requests", strconv.Itoa(served))
	return types.ActionContinue
}
