package wasm

import (
	"strings"
	"testing"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/core/coretest"
	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/extconfig"
)

// netStep is one event driven into a network context and what it must answer.
type netStep struct {
	event string // "new", "read", "write", "close-local", "close-remote"
	data  string // read / write: the event's data
	end   bool
	want  core.NetworkStatus
	// after checks the connection once the event returned.
	after func(t *testing.T, c *coretest.Connection)
}

func runConnection(t *testing.T, p core.Plugin, steps []netStep) *coretest.Connection {
	t.Helper()
	c := coretest.NewConnection()
	f := p.(core.NetworkPlugin).NewNetworkFilter(c)
	defer f.OnDestroy()
	for i, s := range steps {
		var got core.NetworkStatus
		switch s.event {
		case "new":
			got = f.OnNewConnection()
		case "read":
			if c.Read == nil {
				c.Read = &coretest.Buffer{}
			}
			c.Read.Append([]byte(s.data))
			got = f.OnDownstreamData(c.Read.Len(), s.end)
		case "write":
			c.Write = &coretest.Buffer{Data: []byte(s.data)}
			got = f.OnUpstreamData(c.Write.Len(), s.end)
		case "close-local":
			f.OnDownstreamClose(core.PeerLocal)
		case "close-remote":
			f.OnDownstreamClose(core.PeerRemote)
		}
		if got != s.want {
			t.Fatalf("step %d (%s %q): status %v, want %v\nlogs: %v", i, s.event, s.data, got, s.want, c.Logs)
		}
		if s.after != nil {
			s.after(t, c)
		}
		// Envoy moves on data the filter let pass.
		if s.event == "read" && got == core.NetworkContinue {
			c.Read.Data = nil
		}
	}
	return c
}

func wantData(b **coretest.Buffer, want string) func(*testing.T, *coretest.Connection) {
	return func(t *testing.T, c *coretest.Connection) {
		t.Helper()
		if got := string((*b).Data); got != want {
			t.Errorf("data = %q, want %q", got, want)
		}
	}
}

func TestNetwork_GoGuest(t *testing.T) {
	g := wasmtest.Go(t, "tcp")
	e := New(Options{CacheDir: cacheDirForTests()})
	cases := []struct {
		name, config string
		steps        func(c **coretest.Buffer, w **coretest.Buffer) []netStep
		logs         []string // in order
		closes       []coretest.Close
	}{
		{
			name: "counts and logs each direction, closes in Envoy's order",
			steps: func(r, w **coretest.Buffer) []netStep {
				return []netStep{
					{event: "new"},
					{event: "read", data: "hello"},
					{event: "write", data: "hello", end: true},
					{event: "close-local"},
				}
			},
			logs: []string{
				"new connection from 10.0.0.1:4000 to 10.0.0.2:9000 (source port 8 bytes, connection_id 8 bytes, <nil>)",
				`downstream data (5 bytes, end false): "hello"`,
				`upstream data (5 bytes, end true) from -: "hello"`,
				"upstream closed (peer type 0)",
				"downstream closed (peer type 1)",
				"connection done: 5 bytes downstream, 5 bytes upstream",
			},
		},
		{
			name:   "rewrites data in both directions",
			config: "upper prefix",
			steps: func(r, w **coretest.Buffer) []netStep {
				return []netStep{
					{event: "new"},
					{event: "read", data: "abc", after: wantData(r, "ABC")},
					{event: "write", data: "xyz", after: wantData(w, "wasm:xyz")},
					{event: "close-remote"},
				}
			},
			logs: []string{"downstream closed (peer type 2)", "connection done: 3 bytes downstream, 3 bytes upstream"},
		},
		{
			name:   "a paused read keeps its data and sees it again with more",
			config: "hold",
			steps: func(r, w **coretest.Buffer) []netStep {
				return []netStep{
					{event: "new"},
					{event: "read", data: "abc", want: core.NetworkStop, after: wantData(r, "abc")},
					{event: "read", data: "defghi"},
					{event: "close-remote"},
				}
			},
			logs: []string{`downstream data (3 bytes, end false): "abc"`, `downstream data (9 bytes, end false): "abcdefghi"`, "connection done: 9 bytes downstream"},
		},
		{
			name:   "proxy_close_stream closes after flushing",
			config: "close-on-quit",
			steps: func(r, w **coretest.Buffer) []netStep {
				return []netStep{{event: "new"}, {event: "read", data: "quit\n"}, {event: "close-local"}}
			},
			closes: []coretest.Close{{Flush: true, Details: "wasm_downstream_close"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, h := load(t, e, g, withConfig(tc.config))
			// The steps' checks read the connection's buffers through these pointers.
			var r, w *coretest.Buffer
			steps := tc.steps(&r, &w)
			for i := range steps {
				after := steps[i].after
				steps[i].after = func(t *testing.T, c *coretest.Connection) {
					r, w = c.Read, c.Write
					if after != nil {
						after(t, c)
					}
				}
			}
			conn := runConnection(t, p, steps)
			var lines []string
			for _, l := range conn.Logs {
				lines = append(lines, l.Msg)
			}
			all := strings.Join(lines, "\n")
			at := 0
			for _, want := range tc.logs {
				i := strings.Index(all[at:], want)
				if i < 0 {
					t.Fatalf("log %q missing (or out of order) in:\n%s", want, all)
				}
				at += i + len(want)
			}
			if len(conn.Closes) != len(tc.closes) {
				t.Fatalf("closes = %+v, want %+v", conn.Closes, tc.closes)
			}
			for i := range tc.closes {
				if conn.Closes[i] != tc.closes[i] {
					t.Errorf("close %d = %+v, want %+v", i, conn.Closes[i], tc.closes[i])
				}
			}
			if tc.config == "" {
				for name, want := range map[string]uint64{"tcptest_connections_total": 1, "tcptest_closed_total": 1,
					"tcptest_downstream_bytes_total": 5, "tcptest_upstream_bytes_total": 5} {
					if got := conn.Counters[h.ID(name)]; got != want {
						t.Errorf("counter %s = %d, want %d", name, got, want)
					}
				}
			}
		})
	}
}

// TestNetwork_CGuest: the raw-ABI guest's buffer rules and stream-call statuses, as V8 answers
// them (conformance/wasm diffs the same guest against V8).
func TestNetwork_CGuest(t *testing.T) {
	g := wasmtest.C(t, "tcp", "")
	e := New(Options{CacheDir: cacheDirForTests()})
	p, h := load(t, e, g, nil)
	c := runConnection(t, p, []netStep{
		{event: "new"},
		{event: "read", data: "cut:", want: core.NetworkStop},
		{event: "read", data: "abc\n", after: func(t *testing.T, c *coretest.Connection) {
			if got := string(c.Read.Data); got != "Cabc\n" {
				t.Errorf("read data = %q, want drain 4 + prepend: %q", got, "Cabc\n")
			}
		}},
		{event: "write", data: "xy", after: func(t *testing.T, c *coretest.Connection) {
			if got := string(c.Write.Data); got != "xy!" {
				t.Errorf("write data = %q, want %q (append; a write in the middle refused)", got, "xy!")
			}
		}},
		{event: "read", data: "bye\n"},
		{event: "close-remote"},
	})
	var lines []string
	for _, l := range c.Logs {
		lines = append(lines, l.Msg[strings.Index(l.Msg, ": ")+2:])
	}
	want := []string{
		"context created", "new connection",
		"downstream 4 eos 0 get 0: cut:", "status size 0 4 continue req 0 resp 0 up 12 bad 2", "pause",
		"downstream 8 eos 0 get 0: cut:abc|", "cut 0",
		"upstream 2 eos 0: xy", "append 0 middle 2",
		"downstream 4 eos 0 get 0: bye|", "close upstream 0",
		"downstream close 2", "done", "log", "delete",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("guest log:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if len(c.Closes) != 1 || c.Closes[0] != (coretest.Close{Flush: true, Details: "wasm_upstream_close"}) {
		t.Errorf("closes = %+v, want one flush close wasm_upstream_close", c.Closes)
	}
	if got := c.Counters[h.ID("ctcp_bytes_total")]; got != 14 {
		t.Errorf("ctcp_bytes_total = %d, want 14 (8 + 2 + 4)", got)
	}
}

// TestNetwork_Trap: a trap closes the connection after flushing (fail-closed) or lets its data
// pass from then on (fail-open), and the next connection gets a fresh VM.
func TestNetwork_Trap(t *testing.T) {
	g := wasmtest.C(t, "tcp", "")
	e := New(Options{CacheDir: cacheDirForTests()})
	for _, tc := range []struct {
		name   string
		open   bool
		want   core.NetworkStatus
		closes int
	}{{"fail-close", false, core.NetworkStop, 1}, {"fail-open", true, core.NetworkContinue, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			p, h := load(t, e, g, func(x *extconfig.Extension) {
				if tc.open {
					x.FailStrategy = extconfig.FailOpen
				}
			})
			c := runConnection(t, p, []netStep{
				{event: "new"},
				{event: "read", data: "trap\n", want: tc.want},
				{event: "read", data: "more\n", want: tc.want},
				{event: "close-remote"},
			})
			if len(c.Closes) != tc.closes {
				t.Errorf("closes = %+v, want %d", c.Closes, tc.closes)
			}
			if got := c.Counters[h.ID(core.StatPrefix("extensions.istio.io/trafficextension/ns.wasmtest")+"wasm_vm_failed")]; got != 1 {
				t.Errorf("wasm_vm_failed = %d, want 1", got)
			}
			// A fresh VM serves the next connection.
			next := runConnection(t, p, []netStep{{event: "new"}, {event: "read", data: "ok\n"}, {event: "close-remote"}})
			if len(next.Closes) != 0 || len(next.Messages("delete")) != 1 {
				t.Errorf("next connection: closes %+v, logs %v", next.Closes, next.Logs)
			}
		})
	}
}

// TestNetwork_NoAnchor: a root context's HTTP call never borrows a TCP connection (only HTTP
// streams can make callouts).
func TestNetwork_NoAnchor(t *testing.T) {
	v := &vm{filters: map[uint32]*filter{
		2: {id: 2, net: &netConn{}},
		3: {id: 3},
		4: {id: 4, net: &netConn{}},
	}}
	if a := v.anchor(); a == nil || a.id != 3 {
		t.Fatalf("anchor = %+v, want the HTTP stream 3", a)
	}
	delete(v.filters, 3)
	if a := v.anchor(); a != nil {
		t.Fatalf("anchor = %+v, want none", a)
	}
}

// TestNetwork_CallWithoutGateway: without a callout gateway a network context's HTTP call is
// INTERNAL_FAILURE at once (the authz guest then lets the data pass).
func TestNetwork_CallWithoutGateway(t *testing.T) {
	g := wasmtest.C(t, "tcp", "")
	e := New(Options{CacheDir: cacheDirForTests()})
	p, _ := load(t, e, g, withConfig("authz web"))
	c := runConnection(t, p, []netStep{{event: "new"}, {event: "read", data: "hi\n"}, {event: "close-remote"}})
	if len(c.Messages("authz call 10")) != 1 {
		t.Errorf("logs %v, want the call refused with INTERNAL_FAILURE (10)", c.Logs)
	}
}
