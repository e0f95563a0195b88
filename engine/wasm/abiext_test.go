package wasm

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/google/cel-go/common/types"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/wasm/internal/abicodec"
	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
)

const (
	okHost          = "ok"
	notFoundHost    = "error status returned by host: not found"
	badArgumentHost = "error status returned by host: bad argument"
	internalHost    = "error status returned by host: internal failure"
)

func hexOK(s string) string { return "ok:" + hex.EncodeToString([]byte(s)) }

// TestEngine_PropertiesAndForeign runs the abiext guest (declare_property, set/get_property,
// set_envoy_filter_state, CEL) on the fake stream; the same expectations hold through real
// Envoy against V8 (envoy_abi_test.go).
func TestEngine_PropertiesAndForeign(t *testing.T) {
	p, _ := load(t, testEngine, wasmtest.Go(t, "abiext"), nil)
	for _, tc := range []struct {
		name     string
		headers  []string
		upstream []string
		want     map[string]string
		fs       map[string]string // filter state the stream must hold afterwards
	}{
		{name: "start", headers: []string{"x-op", "start"}, want: map[string]string{
			"x-start-declare-ro": "ok:", "x-start-declare-dup": badArgumentHost, "x-start-declare-odd": "ok:",
			"x-start-declare-garbage": badArgumentHost, "x-start-set": notFoundHost,
			"x-start-cel":             "ok:0300000000000000 delete ok: again " + notFoundHost,
			"x-start-cel-stream-attr": internalHost + " delete ok: again " + notFoundHost,
		}},
		{name: "props", headers: []string{"x-op", "props"}, want: map[string]string{
			"x-set-my-1": okHost, "x-get-my-1": hexOK("v1"), "x-set-my-2": okHost, "x-get-my-2": hexOK("v2"),
			"x-fs-my": hexOK("v2"), "x-set-ro-1": okHost, "x-set-ro-2": badArgumentHost, "x-get-ro": hexOK("first"),
			"x-get-missing": notFoundHost, "x-set-multi": okHost, "x-get-multi-a": notFoundHost,
			"x-declare-stream": "ok:", "x-declare-stream-dup": badArgumentHost,
			"x-set-stream-decl-1": okHost, "x-set-stream-decl-2": okHost, "x-get-header": hexOK("props"),
		}, fs: map[string]string{"wasm.my_prop": "v1", "wasm.ro_prop": "first"}},
		{name: "envoyfs", headers: []string{"x-op", "envoyfs"}, want: map[string]string{
			"x-efs-set": "ok:", "x-efs-get": hexOK("hello"), "x-efs-unknown": notFoundHost,
			"x-efs-garbage": badArgumentHost, "x-efs-bad-utf8": badArgumentHost, "x-efs-get-host": hexOK("h.example"),
		}, fs: map[string]string{"envoy.string": "hello", "envoy.upstream.dynamic_host": "h.example"}},
		{name: "envoyfs-typed", headers: []string{"x-op", "envoyfs-typed"}, want: map[string]string{
			"x-efs-typed": "error status returned by host: unimplemented",
			"x-efs-twice": internalHost, "x-efs-twice-get": hexOK("first"),
		}},
		{name: "cel-string-property", headers: []string{"x-op", "cel", "x-expr", "ro_prop + '!' + request.path"}, want: map[string]string{
			"x-cel": hexOK("celval!/") + " delete ok: again " + notFoundHost,
		}},
		{name: "cel-list", headers: []string{"x-op", "cel", "x-expr", "[1, 'a']"}, want: map[string]string{
			"x-cel": "ok:" + hex.EncodeToString(abicodec.EncodePairs([]core.Header{{Key: "\x01\x00\x00\x00\x00\x00\x00\x00"}, {Key: "a"}})) + " delete ok: again " + notFoundHost,
		}},
		{name: "cel-args", headers: []string{"x-op", "cel-args"}, want: map[string]string{
			"x-cel-short": badArgumentHost, "x-cel-unknown": notFoundHost, "x-cel-delete-unknown": "ok:",
			"x-cel-delete-short": badArgumentHost, "x-cel-syntax": badArgumentHost,
		}},
		// In the response phase the request headers are gone (as in Envoy).
		{name: "attr-response-phase", headers: []string{"x-op", "attr", "x-path", "request/path"}, want: map[string]string{
			"x-attr-req": hexOK("/"), "x-attr-resp": notFoundHost,
		}},
		// A grpc-status response header is read in the response phase only.
		{name: "attr-grpc-status", headers: []string{"x-op", "attr", "x-path", "response/grpc_status"},
			upstream: []string{"grpc-status", "5"}, want: map[string]string{
				"x-attr-req": notFoundHost, "x-attr-resp": "ok:0500000000000000",
			}},
		{name: "attr-grpc-status-invalid", headers: []string{"x-op", "attr", "x-path", "response/grpc_status"},
			upstream: []string{"grpc-status", "99"}, want: map[string]string{"x-attr-resp": "ok:ffffffffffffffff"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := drive(t, p, request{headers: tc.headers, upstream: tc.upstream})
			for k, want := range tc.want {
				if got := header(o.respH, k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			for k, want := range tc.fs {
				if got, ok := o.s.FS.Get(k); !ok || string(got) != want {
					t.Errorf("filter state %s = %q (%v), want %q", k, got, ok, want)
				}
			}
		})
	}
}

func TestDecodeDeclareProperty(t *testing.T) {
	enc := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	str := func(n protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, n, protowire.BytesType), s)
	}
	vint := func(n protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, n, protowire.VarintType), v)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want declarePropertyArgs
		err  bool
	}{
		{name: "empty", in: nil},
		{name: "all", in: enc(str(1, "p"), vint(2, 1), vint(3, 1), str(4, "schema"), vint(5, 2)),
			want: declarePropertyArgs{name: "p", readonly: true, typ: 1, schema: []byte("schema"), span: 2}},
		{name: "last wins", in: enc(str(1, "a"), str(1, "b")), want: declarePropertyArgs{name: "b"}},
		{name: "unknown field skipped", in: enc(vint(9, 5), str(1, "x")), want: declarePropertyArgs{name: "x"}},
		{name: "wrong wire type skipped", in: enc(vint(1, 5), str(2, "x")), want: declarePropertyArgs{}},
		{name: "invalid utf8 name", in: enc(str(1, "\xff")), err: true},
		{name: "truncated", in: []byte{0x0a, 0x05, 'a'}, err: true},
		{name: "bad tag", in: []byte{0xff, 0xff}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeDeclareProperty(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			if err == nil && (got.name != tc.want.name || got.readonly != tc.want.readonly || got.typ != tc.want.typ ||
				string(got.schema) != string(tc.want.schema) || got.span != tc.want.span) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeSetFilterState(t *testing.T) {
	in := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "envoy.string")
	in = protowire.AppendString(protowire.AppendTag(in, 2, protowire.BytesType), "v")
	in = protowire.AppendVarint(protowire.AppendTag(in, 3, protowire.VarintType), 1)
	got, err := decodeSetFilterState(in)
	if err != nil || got.path != "envoy.string" || got.value != "v" || got.span != 1 {
		t.Errorf("got %+v, %v", got, err)
	}
	// value is a proto3 string: invalid UTF-8 fails to parse (BAD_ARGUMENT in Envoy).
	bad := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte{0xff})
	if _, err := decodeSetFilterState(bad); err == nil {
		t.Error("invalid UTF-8 value accepted")
	}
}

func TestSerializeCEL(t *testing.T) {
	le := func(v uint64) string { return string(binary.LittleEndian.AppendUint64(nil, v)) }
	for _, tc := range []struct {
		name string
		in   any
		want string
		ok   bool
	}{
		{"string", types.String("s"), "s", true},
		{"bytes", types.Bytes("b"), "b", true},
		{"int", types.Int(-1), le(^uint64(0)), true},
		{"uint", types.Uint(7), le(7), true},
		{"bool", types.True, "\x01", true},
		{"null", types.NullValue, "", false},
		{"unlistable map", &celMap{get: func(string) (any, bool) { return nil, false }}, "", false},
		{"listable map", toCEL(pairsValue{{Key: "k", Value: "v"}}), string(abicodec.EncodePairs([]core.Header{{Key: "k", Value: "v"}})), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := types.DefaultTypeAdapter.NativeToValue(tc.in)
			got, ok := serializeCEL(v)
			if ok != tc.ok || string(got) != tc.want {
				t.Errorf("got %q %v, want %q %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// FuzzForeignArgs: the argument decoders of the foreign functions never panic, and what
// decodes re-encodes to arguments that decode the same.
func FuzzForeignArgs(f *testing.F) {
	f.Add([]byte{0x0a, 0x01, 'p', 0x10, 0x01, 0x18, 0x01, 0x22, 0x00, 0x28, 0x02})
	f.Add([]byte{0x0a, 0x0c, 'e', 'n', 'v', 'o', 'y', '.', 's', 't', 'r', 'i', 'n', 'g', 0x12, 0x01, 'v'})
	f.Add([]byte{0xff, 0xff})
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := decodeDeclareProperty(b); err == nil {
			re := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), a.name)
			re = protowire.AppendBytes(protowire.AppendTag(re, 4, protowire.BytesType), a.schema)
			a2, err := decodeDeclareProperty(re)
			if err != nil || a2.name != a.name || string(a2.schema) != string(a.schema) {
				t.Fatalf("re-decoding %+v: %+v %v", a, a2, err)
			}
		}
		if a, err := decodeSetFilterState(b); err == nil {
			re := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), a.path)
			re = protowire.AppendString(protowire.AppendTag(re, 2, protowire.BytesType), a.value)
			a2, err := decodeSetFilterState(re)
			if err != nil || a2.path != a.path || a2.value != a.value {
				t.Fatalf("re-decoding %+v: %+v %v", a, a2, err)
			}
		}
		if tok, ok := exprToken(b); ok != (len(b) == 4) || ok && binary.LittleEndian.Uint32(b) != tok {
			t.Fatalf("exprToken(%x) = %d, %v", b, tok, ok)
		}
	})
}

// TestEngine_ForeignC: the C guest's declare_property, properties, set_envoy_filter_state and
// CEL calls (the same expectations as the abi-foreign-c scenario through real Envoy).
func TestEngine_ForeignC(t *testing.T) {
	p, _ := load(t, testEngine, wasmtest.C(t, "abiext", ""), nil)
	o := drive(t, p, request{path: "/c"})
	for k, want := range map[string]string{
		"x-c-declare": "0", "x-c-set-1": "0", "x-c-set-2": "2", "x-c-get": "0:" + hex.EncodeToString([]byte("one")),
		"x-c-efs": "0", "x-c-efs-get": "0:" + hex.EncodeToString([]byte("from-c")),
		"x-c-cel":        "0:" + hex.EncodeToString([]byte("one:/c:from-c")),
		"x-c-cel-delete": "0", "x-c-cel-again": "1",
	} {
		if got := header(o.respH, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

// labeledHost is a fakeHost that can define labeled metrics.
type labeledHost struct {
	*fakeHost
	vecs []string
}

func (h *labeledHost) defineVec(name string, labels []string) (core.MetricID, error) {
	h.vecs = append(h.vecs, name+"/"+labels[0])
	return core.MetricID(1000 + len(h.vecs)), nil
}
func (h *labeledHost) DefineCounterVec(n string, l []string) (core.MetricID, error) {
	return h.defineVec(n, l)
}
func (h *labeledHost) DefineGaugeVec(n string, l []string) (core.MetricID, error) {
	return h.defineVec(n, l)
}
func (h *labeledHost) DefineHistogramVec(n string, l []string) (core.MetricID, error) {
	return h.defineVec(n, l)
}

// labeledStream records labeled emissions.
type labeledStream struct {
	core.Stream
	got []string
}

func (s *labeledStream) CounterVec(id core.MetricID, v []string, d uint64) {
	s.got = append(s.got, fmt.Sprintf("counter %d %v %d", id, v, d))
}
func (s *labeledStream) GaugeVec(id core.MetricID, v []string, d int64) {
	s.got = append(s.got, fmt.Sprintf("gauge %d %v %d", id, v, d))
}
func (s *labeledStream) HistogramVec(id core.MetricID, v []string, x uint64) {
	s.got = append(s.got, fmt.Sprintf("histogram %d %v %d", id, v, x))
}

// TestMetrics_LateDefinitionIsLabeled: a metric defined after load is emitted as the label
// value of the labeled stat of its kind; one defined at load stays a plain stat; changes
// made outside a stream wait for the next flush.
func TestMetrics_LateDefinitionIsLabeled(t *testing.T) {
	host := &labeledHost{fakeHost: &fakeHost{}}
	set := newMetricSet()
	p := &plugin{g: &vmGroup{metrics: set}}
	if err := p.ids.defineLate(host); err != nil {
		t.Fatal(err)
	}
	if want := []string{"wasm_late_counter/name", "wasm_late_gauge/name", "wasm_late_histogram/name"}; fmt.Sprint(host.vecs) != fmt.Sprint(want) {
		t.Fatalf("labeled stats %v, want %v", host.vecs, want)
	}
	early, err := set.define(host, p, metricCounter, "early")
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint32
	for kind, name := range []string{"late_c", "late_g", "late_h"} {
		id, err := set.define(nil, nil, uint32(kind), name)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	fs := newFakeStream()
	s := &labeledStream{Stream: fs}
	p.emit(s, set.get(early), 1, 0)
	p.emit(s, set.get(ids[0]), 2, 0)
	p.emit(s, set.get(ids[1]), -3, 0)
	p.emit(s, set.get(ids[2]), 0, 9)
	p.emit(nil, set.get(ids[0]), 5, 0) // outside a stream: pending
	p.flushMetrics(s)
	want := []string{"counter 1001 [late_c] 2", "gauge 1002 [late_g] -3", "histogram 1003 [late_h] 9", "counter 1001 [late_c] 5"}
	if fmt.Sprint(s.got) != fmt.Sprint(want) {
		t.Errorf("labeled emissions %v, want %v", s.got, want)
	}
	if fs.Counters[host.ID("early")] != 1 {
		t.Errorf("early counter %v", fs.Counters)
	}
	// A second plugin joining the group later makes the known metrics plain stats of its
	// own configuration; one that was only a late stat so far catches up with its value at
	// the first flush.
	set.get(ids[0]).value.Store(7)
	host2 := &labeledHost{fakeHost: &fakeHost{}}
	p2 := &plugin{g: p.g}
	if err := set.defineKnown(host2, p2); err != nil {
		t.Fatal(err)
	}
	if _, ok := p2.ids.lookup(set.get(ids[0])); !ok {
		t.Errorf("late_c is not a plain stat of the second plugin: %v", host2.Names)
	}
	fs2 := newFakeStream()
	p2.flushMetrics(&labeledStream{Stream: fs2})
	p2.flushMetrics(&labeledStream{Stream: fs2})
	if got := fs2.Counters[host2.ID("late_c")]; got != 7 {
		t.Errorf("late_c caught up to %d, want 7 (once)", got)
	}
	if got := fs2.Counters[host2.ID("early")]; got != 0 {
		t.Errorf("early (plain from the start) caught up by %d, want 0", got)
	}
	// A host without labeled metrics keeps late metrics inside the engine.
	plain := &plugin{g: &vmGroup{metrics: newMetricSet()}}
	if err := plain.ids.defineLate(&fakeHost{}); err != nil {
		t.Fatal(err)
	}
	id, _ := plain.g.metrics.define(nil, nil, metricCounter, "late")
	ps := &labeledStream{Stream: newFakeStream()}
	plain.emit(ps, plain.g.metrics.get(id), 1, 0)
	if len(ps.got) != 0 {
		t.Errorf("late metric without labeled host emitted %v", ps.got)
	}
}

// BenchmarkEngine_CELForeign measures one stream of the abiext guest: "none" does no foreign
// call, "cel" creates, evaluates and deletes an expression over request attributes (the
// guest re-parses it every request: an upper bound for guests that create it once), "props"
// runs the property and declare_property calls.
func BenchmarkEngine_CELForeign(b *testing.B) {
	g := wasmtest.Go(b, "abiext")
	t := &testing.T{}
	p, _ := load(t, testEngine, g, nil)
	defer p.Close()
	for _, op := range []string{"none", "cel", "props"} {
		b.Run(op, func(b *testing.B) {
			r := request{path: "/bench", headers: []string{"x-op", op, "x-expr", "request.path == '/bench' && request.headers['x-op'] == 'cel'"}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				drive(t, p, r)
			}
		})
	}
}

// BenchmarkCEL separates expr_create (parse and plan) from expr_evaluate (per request) for an
// expression without attributes.
func BenchmarkCEL(b *testing.B) {
	const expr = "[1, 2, 3].map(x, x * 2).size() == 3 && 'a' + 'b' == 'ab'"
	v := &vm{}
	b.Run("create", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			tok, st := v.exprCreate([]byte(expr))
			if st != statusOK {
				b.Fatal(st)
			}
			v.exprDelete(tok)
		}
	})
	b.Run("evaluate", func(b *testing.B) {
		tok, st := v.exprCreate([]byte(expr))
		if st != statusOK {
			b.Fatal(st)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if out, st := v.exprEvaluate(tok); st != statusOK || len(out) != 1 || out[0] != 1 {
				b.Fatalf("%x %d", out, st)
			}
		}
	})
}
