package source

import (
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// fieldError is a schema problem at a field path such as spec.match[0].mode.
type fieldError struct {
	field, msg string
}

// checkMessage walks a JSON value against a message descriptor the way protojson would read it,
// but reports every problem with its path instead of stopping at the first with a generic text.
func checkMessage(md protoreflect.MessageDescriptor, v any, path string, errs *[]fieldError) {
	switch md.FullName() {
	case "google.protobuf.Struct":
		if _, ok := v.(map[string]any); !ok && v != nil {
			*errs = append(*errs, fieldError{path, "must be an object"})
		}
		return
	case "google.protobuf.Value":
		return
	}
	if fd := wrappedValue(md); fd != nil {
		checkScalar(fd, v, path, errs)
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		if v != nil {
			*errs = append(*errs, fieldError{path, "must be an object"})
		}
		return
	}
	for _, k := range sortedKeys(m) {
		fp := path + "." + k
		fd := md.Fields().ByJSONName(k)
		if fd == nil {
			fd = md.Fields().ByName(protoreflect.Name(k))
		}
		if fd == nil {
			*errs = append(*errs, fieldError{fp, "unknown field"})
			continue
		}
		checkField(fd, m[k], fp, errs)
	}
}

// wrappedValue returns the value field of a google.protobuf wrapper type, or nil.
func wrappedValue(md protoreflect.MessageDescriptor) protoreflect.FieldDescriptor {
	if md.ParentFile().Package() != "google.protobuf" || !strings.HasSuffix(string(md.Name()), "Value") {
		return nil
	}
	if md.Fields().Len() != 1 {
		return nil
	}
	return md.Fields().ByName("value")
}

func checkField(fd protoreflect.FieldDescriptor, v any, path string, errs *[]fieldError) {
	if v == nil {
		return // null is the default
	}
	switch {
	case fd.IsMap():
		m, ok := v.(map[string]any)
		if !ok {
			*errs = append(*errs, fieldError{path, "must be an object"})
			return
		}
		for _, k := range sortedKeys(m) {
			if m[k] == nil && fd.MapValue().Kind() != protoreflect.MessageKind {
				*errs = append(*errs, fieldError{path + "[" + k + "]", "must not be null"})
				continue
			}
			checkSingular(fd.MapValue(), m[k], path+"["+k+"]", errs)
		}
	case fd.IsList():
		l, ok := v.([]any)
		if !ok {
			*errs = append(*errs, fieldError{path, "must be a list"})
			return
		}
		for i, e := range l {
			if e == nil {
				*errs = append(*errs, fieldError{fmt.Sprintf("%s[%d]", path, i), "must not be null"})
				continue
			}
			checkSingular(fd, e, fmt.Sprintf("%s[%d]", path, i), errs)
		}
	default:
		checkSingular(fd, v, path, errs)
	}
}

func checkSingular(fd protoreflect.FieldDescriptor, v any, path string, errs *[]fieldError) {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		checkMessage(fd.Message(), v, path, errs)
		return
	}
	checkScalar(fd, v, path, errs)
}

func checkScalar(fd protoreflect.FieldDescriptor, v any, path string, errs *[]fieldError) {
	bad := func(msg string) { *errs = append(*errs, fieldError{path, msg}) }
	if v == nil {
		return
	}
	switch fd.Kind() {
	case protoreflect.EnumKind:
		checkEnum(fd.Enum(), v, path, errs)
	case protoreflect.StringKind:
		if _, ok := v.(string); !ok {
			bad("must be a string")
		}
	case protoreflect.BytesKind:
		if _, ok := v.(string); !ok {
			bad("must be a base64 string")
		}
	case protoreflect.BoolKind:
		if _, ok := v.(bool); !ok {
			bad("must be a boolean")
		}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		if _, ok := v.(float64); !ok {
			bad("must be a number")
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		checkInt(v, math.MinInt32, math.MaxInt32, bad)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		checkInt(v, 0, math.MaxUint32, bad)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if _, ok := v.(string); !ok {
			checkInt(v, -(1 << 53), 1<<53, bad)
		}
	}
}

func checkInt(v any, lo, hi float64, bad func(string)) {
	f, ok := v.(float64)
	switch {
	case !ok:
		bad("must be an integer")
	case f != math.Trunc(f):
		bad(fmt.Sprintf("%v is not an integer", f))
	case f < lo || f > hi:
		bad(fmt.Sprintf("%v is out of range [%v, %v]", f, lo, hi))
	}
}

func checkEnum(ed protoreflect.EnumDescriptor, v any, path string, errs *[]fieldError) {
	switch t := v.(type) {
	case string:
		if ed.Values().ByName(protoreflect.Name(t)) != nil {
			return
		}
		*errs = append(*errs, fieldError{path, fmt.Sprintf("unknown value %q (want one of %s)", t, enumNames(ed))})
	case float64:
		if t == math.Trunc(t) && ed.Values().ByNumber(protoreflect.EnumNumber(t)) != nil {
			return
		}
		*errs = append(*errs, fieldError{path, fmt.Sprintf("unknown value %v (want one of %s)", t, enumNames(ed))})
	default:
		*errs = append(*errs, fieldError{path, "must be a string"})
	}
}

func enumNames(ed protoreflect.EnumDescriptor) string {
	names := make([]string, ed.Values().Len())
	for i := range names {
		names[i] = string(ed.Values().Get(i).Name())
	}
	return strings.Join(names, ", ")
}
