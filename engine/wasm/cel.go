package wasm

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"sort"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
	"google.golang.org/protobuf/proto"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/wasm/internal/abicodec"
)

// Envoy's CEL foreign functions (expr_create/evaluate/delete) on cel-go; statuses and
// evaluation context: RATIONALE.md, "CEL foreign functions".

type celExprs struct {
	env   *cel.Env
	next  uint32
	progs map[uint32]cel.Program
}

func (v *vm) celExprs() (*celExprs, error) {
	if v.exprs == nil {
		env, err := cel.NewEnv()
		if err != nil {
			return nil, fmt.Errorf("creating the CEL environment: %w", err)
		}
		v.exprs = &celExprs{env: env, progs: map[uint32]cel.Program{}}
	}
	return v.exprs, nil
}

// exprCreate returns the token of a new expression.
func (v *vm) exprCreate(expr []byte) ([]byte, status) {
	x, err := v.celExprs()
	if err != nil {
		v.log(core.LogWarn, err.Error())
		return nil, statusInternalFailure
	}
	ast, iss := x.env.Parse(string(expr))
	if iss.Err() != nil {
		v.log(core.LogInfo, "expr_create parse error: "+iss.Err().Error())
		return nil, statusBadArgument
	}
	prg, err := x.env.Program(ast)
	if err != nil {
		v.log(core.LogInfo, "expr_create compile error: "+err.Error())
		return nil, statusBadArgument
	}
	tok := x.next
	x.next++
	for x.progs[tok] != nil {
		tok = x.next
		x.next++
	}
	x.progs[tok] = prg
	return binary.LittleEndian.AppendUint32(nil, tok), statusOK
}

func exprToken(arg []byte) (uint32, bool) {
	if len(arg) != 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(arg), true
}

// exprEvaluate evaluates the expression whose token is arg.
func (v *vm) exprEvaluate(arg []byte) ([]byte, status) {
	x, err := v.celExprs()
	if err != nil {
		return nil, statusInternalFailure
	}
	tok, ok := exprToken(arg)
	if !ok {
		return nil, statusBadArgument
	}
	prg := x.progs[tok]
	if prg == nil {
		return nil, statusNotFound
	}
	out, _, err := prg.Eval(celActivation{v})
	if err != nil {
		v.log(core.LogDebug, "expr_evaluate error: "+err.Error())
		return nil, statusInternalFailure
	}
	b, ok := serializeCEL(out)
	if !ok {
		return nil, statusSerialization
	}
	return b, statusOK
}

func (v *vm) exprDelete(arg []byte) status {
	x, err := v.celExprs()
	if err != nil {
		return statusInternalFailure
	}
	tok, ok := exprToken(arg)
	if !ok {
		return statusBadArgument
	}
	delete(x.progs, tok)
	return statusOK
}

// celActivation resolves CEL identifiers through the VM's current context.
type celActivation struct{ v *vm }

func (a celActivation) ResolveName(name string) (any, bool) {
	val, ok := a.v.topValue(name)
	if !ok {
		return nil, false
	}
	return toCEL(val), true
}

func (celActivation) Parent() interpreter.Activation { return nil }

// toCEL turns a property value into a value cel-go adapts.
func toCEL(val any) any {
	switch x := val.(type) {
	case lazyMap:
		return &celMap{get: x}
	case pairsValue:
		keys := make([]string, len(x))
		for i, h := range x {
			keys[i] = h.Key
		}
		return &celMap{get: x.get, keys: keys, listable: true}
	case nil:
		return types.NullValue
	}
	return val
}

// celMap is a string-keyed CEL map resolved on demand; only a listable one can be iterated
// or serialized (Envoy's attribute wrappers cannot list their keys either).
type celMap struct {
	get      func(string) (any, bool)
	keys     []string
	listable bool
}

var _ traits.Mapper = (*celMap)(nil)

func (m *celMap) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("type conversion of an attribute map to %v is not supported", t)
}

func (m *celMap) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return m
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from map to %s", t)
}

func (m *celMap) Equal(o ref.Val) ref.Val { return types.Bool(o == ref.Val(m)) }
func (m *celMap) Type() ref.Type          { return types.MapType }
func (m *celMap) Value() any              { return m }

func (m *celMap) Find(key ref.Val) (ref.Val, bool) {
	s, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	val, ok := m.get(string(s))
	if !ok {
		return nil, false
	}
	return types.DefaultTypeAdapter.NativeToValue(toCEL(val)), true
}

func (m *celMap) Contains(key ref.Val) ref.Val {
	_, ok := m.Find(key)
	return types.Bool(ok)
}

func (m *celMap) Get(key ref.Val) ref.Val {
	if v, ok := m.Find(key); ok {
		return v
	}
	return types.NewErr("no such key: %v", key)
}

func (m *celMap) Iterator() traits.Iterator {
	return types.NewStringList(types.DefaultTypeAdapter, m.keys).Iterator()
}

func (m *celMap) Size() ref.Val { return types.Int(len(m.keys)) }

// serializeCEL is Envoy's serializeValue for a CEL result.
func serializeCEL(val ref.Val) ([]byte, bool) {
	switch x := val.(type) {
	case types.String:
		return []byte(x), true
	case types.Bytes:
		return []byte(x), true
	case types.Int:
		return serializeValue(int64(x))
	case types.Uint:
		return serializeValue(uint64(x))
	case types.Double:
		return serializeValue(float64(x))
	case types.Bool:
		return serializeValue(bool(x))
	case types.Duration:
		return serializeValue(x.Duration)
	case types.Timestamp:
		return serializeValue(x.Time)
	case *celMap:
		if !x.listable {
			return nil, false
		}
	}
	if msg, ok := val.Value().(proto.Message); ok {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
		return b, err == nil
	}
	switch x := val.(type) {
	case traits.Mapper:
		var pairs pairsValue
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			kb, ok := serializeCEL(k)
			if !ok {
				return nil, false
			}
			vb, ok := serializeCEL(x.Get(k))
			if !ok {
				return nil, false
			}
			pairs = append(pairs, core.Header{Key: string(kb), Value: string(vb)})
		}
		if _, ordered := x.(*celMap); !ordered {
			// cel-go's maps iterate in random order; Envoy's in its own hash order. Sort
			// so that a result is at least stable.
			sort.Slice(pairs, func(i, j int) bool { return pairs[i].Key < pairs[j].Key })
		}
		return abicodec.EncodePairs(pairs), true
	case traits.Lister:
		var pairs pairsValue
		for it := x.Iterator(); it.HasNext() == types.True; {
			b, ok := serializeCEL(it.Next())
			if !ok {
				return nil, false
			}
			pairs = append(pairs, core.Header{Key: string(b)})
		}
		return abicodec.EncodePairs(pairs), true
	}
	return nil, false
}
