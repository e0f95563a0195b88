package lua

import (
	"fmt"
	"math"
	"sort"

	glua "github.com/yuin/gopher-lua"
)

// maxConvertDepth bounds the nesting of tables converted to metadata values.
const maxConvertDepth = 32

// toLua converts a metadata value (string, float64, int64, bool, nil, map[string]any, []any) to
// a Lua value. Other types become their string form.
func toLua(L *glua.LState, v any) glua.LValue {
	switch x := v.(type) {
	case nil:
		return glua.LNil
	case string:
		return glua.LString(x)
	case []byte:
		return glua.LString(x)
	case float64:
		return glua.LNumber(x)
	case float32:
		return glua.LNumber(x)
	case int:
		return glua.LNumber(x)
	case int64:
		return glua.LNumber(x)
	case uint64:
		return glua.LNumber(x)
	case int32:
		return glua.LNumber(x)
	case bool:
		return glua.LBool(x)
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.CreateTable(len(x), 0)
		for i, e := range x {
			t.RawSetInt(i+1, toLua(L, e))
		}
		return t
	}
	return glua.LString(fmt.Sprint(v))
}

// fromLua converts a Lua value to a metadata value as Envoy's MetadataMapHelper::loadValue
// does: nil, booleans, numbers, strings, and tables (an array when its keys are 1..n,
// otherwise an object with string keys; numeric keys of an object become strings).
func fromLua(L *glua.LState, v glua.LValue, depth int) any {
	switch x := v.(type) {
	case *glua.LNilType:
		return nil
	case glua.LBool:
		return bool(x)
	case glua.LNumber:
		return float64(x)
	case glua.LString:
		return string(x)
	case *glua.LTable:
		if depth > maxConvertDepth {
			L.RaiseError("table nesting too deep in dynamicMetadata")
		}
		return tableFromLua(L, x, depth+1)
	}
	L.RaiseError("unexpected type '%s' in dynamicMetadata", v.Type().String())
	return nil
}

func tableFromLua(L *glua.LState, t *glua.LTable, depth int) any {
	n := t.Len()
	count := 0
	t.ForEach(func(glua.LValue, glua.LValue) { count++ })
	if n > 0 && n == count {
		arr := make([]any, n)
		for i := 1; i <= n; i++ {
			arr[i-1] = fromLua(L, t.RawGetInt(i), depth)
		}
		return arr
	}
	obj := make(map[string]any, count)
	t.ForEach(func(k, e glua.LValue) {
		var key string
		switch kk := k.(type) {
		case glua.LString:
			key = string(kk)
		case glua.LNumber:
			f := float64(kk)
			if f == math.Trunc(f) {
				key = fmt.Sprintf("%d", int64(f))
			} else {
				key = kk.String()
			}
		default:
			L.RaiseError("unexpected type %s in table key (only string keys are supported)", k.Type().String())
		}
		obj[key] = fromLua(L, e, depth)
	})
	return obj
}

// sortedKeys returns m's keys in order (stable iteration for pairs).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
