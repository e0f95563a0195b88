package core_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/core/coretest"
	"github.com/trafficext/trafficext/extconfig"
)

// netEngine is a "wasm" engine whose plugins run onData as the network extension; lua is a
// plugin without network support.
type netEngine struct {
	kind         string
	loadErr      error
	onData       func(c core.Connection) core.NetworkStatus
	panicAtStart bool
}

func (e *netEngine) Kind() string { return e.kind }
func (e *netEngine) Load(*extconfig.Extension, core.ConfigHost) (core.Plugin, error) {
	if e.loadErr != nil {
		return nil, e.loadErr
	}
	if e.kind == "lua" {
		return httpOnly{}, nil
	}
	return netPlugin{e}, nil
}

type httpOnly struct{}

func (httpOnly) NewFilter(core.Stream) core.Filter { return nil }
func (httpOnly) Close()                            {}

type netPlugin struct{ e *netEngine }

func (netPlugin) NewFilter(core.Stream) core.Filter { return nil }
func (netPlugin) Close()                            {}
func (p netPlugin) NewNetworkFilter(c core.Connection) core.NetworkFilter {
	if p.e.panicAtStart {
		panic("no start")
	}
	return &netFunc{c: c, onData: p.e.onData}
}

type netFunc struct {
	c      core.Connection
	onData func(core.Connection) core.NetworkStatus
	closes []core.PeerType
}

func (f *netFunc) OnNewConnection() core.NetworkStatus           { return core.NetworkContinue }
func (f *netFunc) OnDownstreamData(int, bool) core.NetworkStatus { return f.onData(f.c) }
func (f *netFunc) OnUpstreamData(int, bool) core.NetworkStatus   { return core.NetworkContinue }
func (f *netFunc) OnDownstreamClose(p core.PeerType)             { f.closes = append(f.closes, p) }
func (f *netFunc) OnDestroy()                                    {}

func rawExt(t *testing.T, ext extconfig.Extension) []byte {
	t.Helper()
	ext.Schema = extconfig.SchemaVersion
	raw, err := extconfig.Marshal(&ext)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

const netName = "extensions.istio.io/trafficextension/ns.tcp"

func TestNewNetworkConfig_RefusesLua(t *testing.T) {
	rt := core.NewRuntime([]core.Engine{&netEngine{kind: "lua"}, &netEngine{kind: "wasm"}})
	_, err := rt.NewNetworkConfig(netName, rawExt(t, extconfig.Extension{Name: netName, Lua: &extconfig.Lua{InlineCode: "x"}}), &coretest.Host{})
	if !errors.Is(err, core.ErrNotNetwork) || !strings.Contains(err.Error(), netName) {
		t.Fatalf("err = %v, want ErrNotNetwork naming the extension", err)
	}
}

func TestConnectionHandler_FailStrategy(t *testing.T) {
	panicky := func(core.Connection) core.NetworkStatus { panic("boom") }
	cases := []struct {
		name       string
		ext        extconfig.Extension
		loadErr    error
		onData     func(core.Connection) core.NetworkStatus
		wantNew    core.NetworkStatus
		wantData   []core.NetworkStatus // two reads
		wantCloses []coretest.Close
		wantCount  string
		panicStart bool
	}{
		{name: "panic while starting: closed at the new connection, not before", panicStart: true,
			wantNew: core.NetworkStop, wantData: []core.NetworkStatus{core.NetworkStop, core.NetworkStop},
			wantCloses: []coretest.Close{{Flush: true, Details: "trafficext_extension_failed"}}, wantCount: "fail_close"},
		{name: "passes through", onData: func(core.Connection) core.NetworkStatus { return core.NetworkStop },
			wantData: []core.NetworkStatus{core.NetworkStop, core.NetworkStop}},
		{name: "panic fail-close closes after flushing", onData: panicky,
			wantData:   []core.NetworkStatus{core.NetworkStop, core.NetworkStop},
			wantCloses: []coretest.Close{{Flush: true, Details: "trafficext_extension_failed"}}, wantCount: "fail_close"},
		{name: "panic fail-open passes the rest", ext: extconfig.Extension{FailStrategy: extconfig.FailOpen}, onData: panicky,
			wantData: []core.NetworkStatus{core.NetworkContinue, core.NetworkContinue}, wantCount: "fail_open"},
		{name: "deny slot closes at once", ext: extconfig.Extension{Deny: &extconfig.Deny{Status: 403, Reason: "no module"}},
			wantNew: core.NetworkStop, wantData: []core.NetworkStatus{core.NetworkStop, core.NetworkStop},
			wantCloses: []coretest.Close{{Flush: false, Details: "trafficext_extension_unavailable"}}, wantCount: "denied"},
		{name: "VM that does not start, fail-open", ext: extconfig.Extension{FailStrategy: extconfig.FailOpen}, loadErr: errors.New("no start"),
			wantData: []core.NetworkStatus{core.NetworkContinue, core.NetworkContinue}, wantCount: "start_failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt := core.NewRuntime([]core.Engine{&netEngine{kind: "wasm", loadErr: tc.loadErr, onData: tc.onData, panicAtStart: tc.panicStart}})
			ext := tc.ext
			ext.Name = netName
			if ext.Deny == nil {
				ext.Wasm = &extconfig.Wasm{Path: "/x.wasm"}
			}
			host := &coretest.Host{}
			cfg, err := rt.NewNetworkConfig(netName, rawExt(t, ext), host)
			if err != nil {
				t.Fatal(err)
			}
			defer cfg.Close()
			c := coretest.NewConnection()
			c.Read = &coretest.Buffer{Data: []byte("hi")}
			h := cfg.NewConnection(c)
			if len(c.Closes) != 0 {
				t.Fatalf("closed before the new connection: %+v", c.Closes)
			}
			if got := h.NewConnectionEvent(); got != tc.wantNew {
				t.Errorf("new connection: %v, want %v", got, tc.wantNew)
			}
			for i, want := range tc.wantData {
				if got := h.DownstreamData(2, false); got != want {
					t.Errorf("read %d: %v, want %v", i, got, want)
				}
			}
			h.DownstreamClose(core.PeerRemote)
			h.Destroy()
			if len(c.Closes) != len(tc.wantCloses) || (len(c.Closes) > 0 && c.Closes[0] != tc.wantCloses[0]) {
				t.Errorf("closes = %+v, want %+v", c.Closes, tc.wantCloses)
			}
			if tc.wantCount != "" {
				if got := c.Counters[host.ID(core.StatPrefix(netName)+tc.wantCount)]; got != 1 {
					t.Errorf("%s = %d, want 1 (counters %v, names %v)", tc.wantCount, got, c.Counters, host.Names)
				}
			}
		})
	}
}
