// Command testplugin is a golang-filter library (go build -buildmode=c-shared) that exercises
// the golang host's C interface directly, without trafficext's core: the request header x-test
// selects what the plugin "ghosttest" does (see the cases of conformance/contract's
// TestGolangHostPlugin).
package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/envoyproxy/envoy/contrib/golang/filters/http/source/go/pkg/http"
	"google.golang.org/protobuf/types/known/anypb"
)

// PluginName is the plugin this library registers.
const PluginName = "ghosttest"

func init() {
	http.RegisterHttpFilterFactoryAndConfigParser(PluginName, factory, parser{})
}

func main() {}

type config struct{ requests api.CounterMetric }

type parser struct{}

func (parser) Parse(_ *anypb.Any, cb api.ConfigCallbackHandler) (any, error) {
	c := &config{}
	if cb != nil {
		c.requests = cb.DefineCounterMetric("ghosttest_requests")
	}
	return c, nil
}

func (parser) Merge(_, child any) any { return child }

func factory(c any, cb api.FilterCallbackHandler) api.StreamFilter {
	return &filter{cfg: c.(*config), cb: cb}
}

type filter struct {
	api.PassThroughStreamFilter
	cfg  *config
	cb   api.FilterCallbackHandler
	mode string
	req  api.RequestHeaderMap // kept live by StopAndBuffer for the data phase
}

func (f *filter) DecodeHeaders(h api.RequestHeaderMap, endStream bool) api.StatusType {
	if f.cfg.requests != nil {
		f.cfg.requests.Increment(1)
	}
	f.mode, _ = h.Get("x-test")
	f.req = h
	switch f.mode {
	case "panic":
		panic("ghosttest: panic in DecodeHeaders")
	case "async":
		// Running, then the header is set and the request continued from a goroutine.
		go func() {
			defer f.cb.DecoderFilterCallbacks().RecoverPanic()
			time.Sleep(20 * time.Millisecond)
			h.Set("x-async", "goroutine")
			f.cb.DecoderFilterCallbacks().Continue(api.Continue)
		}()
		return api.Running
	case "async-reply":
		go func() {
			defer f.cb.DecoderFilterCallbacks().RecoverPanic()
			time.Sleep(20 * time.Millisecond)
			f.cb.DecoderFilterCallbacks().SendLocalReply(418, "teapot from a goroutine", map[string][]string{"x-reply": {"goroutine"}}, -1, "ghosttest")
		}()
		return api.Running
	case "goroutine-panic":
		go func() {
			defer f.cb.DecoderFilterCallbacks().RecoverPanic()
			panic("ghosttest: panic in a goroutine")
		}()
		return api.Running
	case "buffer":
		if endStream {
			return api.Continue
		}
		return api.StopAndBuffer
	case "props":
		p, err := f.cb.GetProperty("request.path")
		if err != nil {
			p = "error: " + err.Error()
		}
		h.Set("x-prop-path", "["+p+"]")
		f.cb.StreamInfo().DynamicMetadata().Set("ghosttest", "mode", "props")
		f.cb.StreamInfo().FilterState().SetString("ghosttest.state", "kept", api.StateTypeMutable, api.LifeSpanFilterChain, api.None)
	}
	return api.Continue
}

func (f *filter) DecodeData(b api.BufferInstance, endStream bool) api.StatusType {
	if f.mode == "buffer" {
		if !endStream {
			return api.StopAndBuffer
		}
		// The whole body: upper-cased, then Running and continued from a goroutine.
		s := "[" + strings.ToUpper(b.String()) + "]"
		b.SetString(s)
		// The request headers are still Go's after StopAndBuffer: the body's new length.
		f.req.Set("content-length", strconv.Itoa(len(s)))
		go func() {
			defer f.cb.DecoderFilterCallbacks().RecoverPanic()
			time.Sleep(10 * time.Millisecond)
			f.cb.DecoderFilterCallbacks().Continue(api.Continue)
		}()
		return api.Running
	}
	return api.Continue
}

func (f *filter) EncodeHeaders(h api.ResponseHeaderMap, _ bool) api.StatusType {
	if f.mode == "props" {
		md := f.cb.StreamInfo().DynamicMetadata().Get("ghosttest")
		if v, ok := md["mode"].(string); ok {
			h.Set("x-metadata", v)
		}
		h.Set("x-filter-state", f.cb.StreamInfo().FilterState().GetString("ghosttest.state"))
	}
	return api.Continue
}
