// Package meter adds fuel metering to WebAssembly modules, so a host can bound a runaway guest
// without the engine compiling termination checks of its own.
//
// Instrument rewrites a module so that it
//   - imports one more function, ImportModule.ImportName of type () -> (), appended after the
//     other imports (every defined function's index shifts by one; calls, return calls,
//     ref.func, element segments, exports, the start function and the name section's function
//     and local names are renumbered);
//   - defines one more global, a mutable i32 holding the fuel (appended last, so no global
//     index changes), initially Fuel;
//   - checks the fuel at the head of every loop and at the entry of every defined function
//     that calls functions, so every unbounded execution (a loop or a recursion) passes a
//     check: the check decrements the fuel and, when it reaches zero, resets the fuel to Fuel
//     and calls the import. A function that calls nothing and has no loop runs a bounded
//     number of instructions, and one whose every execution reaches a loop before it can
//     branch or call (the shape of Go's wasm functions) gets its first check from that loop,
//     so neither gets an entry check. The check is stack-neutral and contains no branch, so
//     no branch target changes; it keeps the decremented value in one extra i32 local
//     appended to each function's locals.
//
// The host's refuel function therefore runs once every Fuel loop iterations or function calls
// of the guest (every ~80 µs of the tightest loop on wazero, more for real loop bodies), on
// the calling goroutine, and may stop the guest there (with wazero: by panicking, which fails
// the call). The guest cannot reach the fuel global or the import: no original instruction
// names them.
//
// The decoder understands every instruction of WebAssembly 2.0 plus the extensions real
// guests use: sign extension, saturating truncation, bulk memory, reference types, SIMD and
// relaxed SIMD, threads (atomics), tail calls, exception handling (try_table, throw, throw_ref
// and the legacy try/catch/delegate), multi-value block types and multiple memories. Anything
// it cannot decode is an error naming the section and offset; errors for input that is not a
// well-formed module wrap ErrMalformed (every count and length is checked against the bytes
// present, so the output never claims more than it holds). Custom sections are kept except
// those that record code offsets (".debug_*" DWARF, "reloc.*", "linking"), which the rewrite
// would make wrong; the name section keeps its module, function and local names and drops its
// other subsections.
package meter

import (
	"bytes"
	"fmt"
	"strings"
)

// The import Instrument adds and the fuel between two calls to it.
const (
	ImportModule = "trafficext_meter"
	ImportName   = "refuel"
	Fuel         = 1 << 16
)

// maxLocals bounds the locals of a function, parameters included (V8's limit; some decoders
// preallocate what a body declares).
const maxLocals = 50000

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// rank orders the known non-custom sections as the binary format requires (tag sits between
// memory and global).
var rank = [...]int{secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secTag: 6,
	secGlobal: 7, secExport: 8, secStart: 9, secElement: 10, secDataCount: 11, secCode: 12, secData: 13}

var sectionNames = [...]string{"custom", "type", "import", "function", "table", "memory", "global",
	"export", "start", "element", "code", "data", "data count", "tag"}

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

type section struct {
	id      byte
	payload []byte
	off     int // offset of the payload in the module
}

// module is what the rewrite needs to know about the input.
type module struct {
	params        []uint32 // parameter count of each type
	funcTypes     []uint32 // type of each defined function
	importedFuncs uint32
	funcs         uint32 // imported + defined
	globals       uint32 // imported + defined

	refuel     uint32 // function index of the refuel import
	refuelType uint32
	newType    bool // refuelType is appended to the type section
	fuel       uint32
}

// remap is the new index of function idx.
func (m *module) remap(idx uint32) uint32 {
	if idx >= m.importedFuncs {
		return idx + 1
	}
	return idx
}

// Instrument returns bin with fuel metering added (see the package documentation). The result
// is deterministic: the same input gives the same bytes.
func Instrument(bin []byte) ([]byte, error) {
	if len(bin) < len(header) || !bytes.Equal(bin[:4], header[:4]) {
		return nil, fmt.Errorf("%w: not a WebAssembly module (no \\0asm magic)", ErrMalformed)
	}
	if !bytes.Equal(bin[4:8], header[4:]) {
		return nil, fmt.Errorf("unsupported WebAssembly binary version % x (only core modules, version 1)", bin[4:8])
	}
	secs, err := split(bin)
	if err != nil {
		return nil, err
	}
	m := &module{}
	for _, s := range secs {
		if err := m.scan(s); err != nil {
			return nil, fmt.Errorf("%s section: %w", sectionNames[s.id], err)
		}
	}
	m.funcs = m.importedFuncs + uint32(len(m.funcTypes))
	m.refuel = m.importedFuncs
	m.fuel = m.globals
	m.refuelType = uint32(len(m.params))
	m.newType = true
	for _, s := range secs {
		if s.id == secType {
			if idx, ok := emptyFuncType(s); ok {
				m.refuelType, m.newType = idx, false
			}
		}
	}

	out := append([]byte(nil), header...)
	// Sections the rewrite needs and the module may lack, by rank.
	missing := map[byte]bool{secType: m.newType, secImport: true, secGlobal: true}
	emitMissing := func(below int) error {
		for _, id := range []byte{secType, secImport, secGlobal} {
			if missing[id] && rank[id] < below {
				p, err := m.rewrite(section{id: id})
				if err != nil {
					return err
				}
				out = appendSection(out, id, p)
				missing[id] = false
			}
		}
		return nil
	}
	for _, s := range secs {
		if s.id != secCustom {
			missing[s.id] = false
			if err := emitMissing(rank[s.id]); err != nil {
				return nil, err
			}
		}
		p, err := m.rewrite(s)
		if err != nil {
			if s.id == secCustom {
				return nil, fmt.Errorf("custom section: %w", err)
			}
			return nil, fmt.Errorf("%s section: %w", sectionNames[s.id], err)
		}
		if p != nil {
			out = appendSection(out, s.id, p)
		}
	}
	if err := emitMissing(len(sectionNames) + 1); err != nil {
		return nil, err
	}
	return out, nil
}

// split cuts the module into sections, checking their ids and order.
func split(bin []byte) ([]section, error) {
	r := &reader{b: bin, off: len(header)}
	var secs []section
	last := 0
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		if int(id) >= len(sectionNames) {
			return nil, fmt.Errorf("offset %#x: %w: unknown section id %d", r.pos()-1, ErrMalformed, id)
		}
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("%s section size: %w", sectionNames[id], err)
		}
		off := r.off
		p, err := r.bytes(size)
		if err != nil {
			return nil, fmt.Errorf("%s section: %w", sectionNames[id], err)
		}
		if id != secCustom {
			if rank[id] <= last {
				return nil, fmt.Errorf("offset %#x: %w: %s section out of order or repeated", off, ErrMalformed, sectionNames[id])
			}
			last = rank[id]
		}
		secs = append(secs, section{id: id, payload: p, off: off})
	}
	return secs, nil
}

func appendSection(out []byte, id byte, payload []byte) []byte {
	out = append(out, id)
	out = appendU32(out, uint32(len(payload)))
	return append(out, payload...)
}

// scan records the counts and types the rewrite needs.
func (m *module) scan(s section) error {
	r := &reader{b: s.payload, base: s.off}
	switch s.id {
	case secType:
		n, err := r.count()
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			form, err := r.byte()
			if err != nil {
				return err
			}
			if form != 0x60 {
				return r.errorf("type %d: unsupported type form %#x (only function types)", i, form)
			}
			np, err := skipValTypes(r)
			if err != nil {
				return fmt.Errorf("type %d: %w", i, err)
			}
			if _, err := skipValTypes(r); err != nil {
				return fmt.Errorf("type %d: %w", i, err)
			}
			m.params = append(m.params, np)
		}
		return trailing(r)
	case secImport:
		n, err := r.count()
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			kind, err := skipImport(r)
			if err != nil {
				return fmt.Errorf("import %d: %w", i, err)
			}
			switch kind {
			case 0x00:
				m.importedFuncs++
			case 0x03:
				m.globals++
			}
		}
		return trailing(r)
	case secFunction:
		n, err := r.count()
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			t, err := r.u32()
			if err != nil {
				return err
			}
			if t >= uint32(len(m.params)) {
				return r.malformedf("function %d: type index %d out of range", i, t)
			}
			m.funcTypes = append(m.funcTypes, t)
		}
		return trailing(r)
	case secGlobal:
		n, err := r.count()
		if err != nil {
			return err
		}
		m.globals += n
	}
	return nil
}

// trailing fails when r has bytes left.
func trailing(r *reader) error {
	if !r.done() {
		return r.malformedf("%d unexpected bytes at the end of the section", len(r.b)-r.off)
	}
	return nil
}

// skipValTypes skips a vector of value types and returns its length.
func skipValTypes(r *reader) (uint32, error) {
	n, err := r.count()
	if err != nil {
		return 0, err
	}
	for i := uint32(0); i < n; i++ {
		if err := valType(r); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// emptyFuncType finds the first type () -> () of a (scanned, hence well-formed) type section.
func emptyFuncType(s section) (uint32, bool) {
	r := &reader{b: s.payload}
	n, _ := r.u32()
	for i := uint32(0); i < n; i++ {
		r.byte()
		np, _ := skipValTypes(r)
		nr, _ := skipValTypes(r)
		if np == 0 && nr == 0 {
			return i, true
		}
	}
	return 0, false
}

// skipImport skips one import and returns its kind.
func skipImport(r *reader) (byte, error) {
	if _, err := r.name(); err != nil {
		return 0, err
	}
	if _, err := r.name(); err != nil {
		return 0, err
	}
	kind, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch kind {
	case 0x00, 0x04: // function, tag
		if kind == 0x04 {
			if _, err := r.byte(); err != nil { // attribute
				return 0, err
			}
		}
		_, err = r.u32()
	case 0x01: // table
		if err = valType(r); err == nil {
			err = limits(r)
		}
	case 0x02: // memory
		err = limits(r)
	case 0x03: // global
		if err = valType(r); err == nil {
			_, err = r.byte()
		}
	default:
		return 0, r.errorf("unknown import kind %#x", kind)
	}
	return kind, err
}

// limits skips table or memory limits (shared and 64-bit flags included).
func limits(r *reader) error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if flags > 0x07 {
		return r.errorf("unknown limits flags %#x", flags)
	}
	if _, err := r.uleb(64); err != nil {
		return err
	}
	if flags&0x01 != 0 {
		_, err = r.uleb(64)
	}
	return err
}

// rewrite returns the new payload of section s (nil: drop the section). A section with a nil
// payload and id type, import or global is one the module lacks and the rewrite adds.
func (m *module) rewrite(s section) ([]byte, error) {
	r := &reader{b: s.payload, base: s.off}
	switch s.id {
	case secType:
		if !m.newType {
			return s.payload, nil
		}
		return m.appendToVector(r, []byte{0x60, 0x00, 0x00})
	case secImport:
		var imp []byte
		imp = appendName(imp, []byte(ImportModule))
		imp = appendName(imp, []byte(ImportName))
		imp = append(imp, 0x00)
		imp = appendU32(imp, m.refuelType)
		return m.appendToVector(r, imp)
	case secGlobal:
		return m.rewriteGlobals(r)
	case secExport:
		return m.rewriteExports(r)
	case secStart:
		idx, err := r.u32()
		if err != nil {
			return nil, err
		}
		if idx >= m.funcs {
			return nil, r.malformedf("start function index %d out of range", idx)
		}
		return appendU32(nil, m.remap(idx)), trailing(r)
	case secElement:
		return m.rewriteElements(r)
	case secCode:
		return m.rewriteCode(r)
	case secTable, secMemory, secTag, secData, secDataCount:
		return s.payload, m.validate(s.id, r)
	case secCustom:
		name, err := r.name()
		if err != nil {
			return nil, err
		}
		switch n := string(name); {
		case n == "name":
			return m.rewriteNames(r)
		case strings.HasPrefix(n, ".debug_"), strings.HasPrefix(n, "reloc."), n == "linking":
			return nil, nil
		}
		return s.payload, nil
	}
	return s.payload, nil
}

// appendToVector returns the vector in r (empty when r is) with one more element, elem.
func (m *module) appendToVector(r *reader, elem []byte) ([]byte, error) {
	var n uint32
	if len(r.b) > 0 {
		var err error
		if n, err = r.count(); err != nil {
			return nil, err
		}
	}
	if n == 1<<32-1 {
		return nil, r.malformedf("vector too long")
	}
	out := appendU32(nil, n+1)
	out = append(out, r.b[r.off:]...)
	return append(out, elem...), nil
}

func (m *module) rewriteGlobals(r *reader) ([]byte, error) {
	var n uint32
	if len(r.b) > 0 {
		var err error
		if n, err = r.count(); err != nil {
			return nil, err
		}
	}
	out := appendU32(nil, n+1)
	for i := uint32(0); i < n; i++ {
		start := r.off
		if err := valType(r); err != nil {
			return nil, fmt.Errorf("global %d: %w", i, err)
		}
		if _, err := r.byte(); err != nil {
			return nil, fmt.Errorf("global %d: %w", i, err)
		}
		out = append(out, r.b[start:r.off]...)
		var err error
		if out, err = m.expr(r, out, nil, &exprInfo{}); err != nil {
			return nil, fmt.Errorf("global %d: %w", i, err)
		}
	}
	if err := trailing(r); err != nil {
		return nil, err
	}
	out = append(out, valI32, 0x01, opI32Const)
	out = appendS32(out, Fuel)
	return append(out, opEnd), nil
}

func (m *module) rewriteExports(r *reader) ([]byte, error) {
	n, err := r.count()
	if err != nil {
		return nil, err
	}
	out := appendU32(nil, n)
	for i := uint32(0); i < n; i++ {
		name, err := r.name()
		if err != nil {
			return nil, fmt.Errorf("export %d: %w", i, err)
		}
		kind, err := r.byte()
		if err != nil {
			return nil, fmt.Errorf("export %q: %w", name, err)
		}
		idx, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("export %q: %w", name, err)
		}
		if kind == 0x00 {
			if idx >= m.funcs {
				return nil, r.malformedf("export %q: function index %d out of range", name, idx)
			}
			idx = m.remap(idx)
		}
		out = appendName(out, name)
		out = append(out, kind)
		out = appendU32(out, idx)
	}
	return out, trailing(r)
}

func (m *module) rewriteElements(r *reader) ([]byte, error) {
	n, err := r.count()
	if err != nil {
		return nil, err
	}
	out := appendU32(nil, n)
	for i := uint32(0); i < n; i++ {
		if out, err = m.rewriteElement(r, out); err != nil {
			return nil, fmt.Errorf("element segment %d: %w", i, err)
		}
	}
	return out, trailing(r)
}

// rewriteElement copies one element segment (any of the 8 forms), renumbering functions.
func (m *module) rewriteElement(r *reader, out []byte) ([]byte, error) {
	flags, err := r.u32()
	if err != nil {
		return nil, err
	}
	if flags > 7 {
		return nil, r.errorf("unknown element segment flags %d", flags)
	}
	out = appendU32(out, flags)
	if flags&0x02 != 0 && flags&0x01 == 0 { // explicit table index
		t, err := r.u32()
		if err != nil {
			return nil, err
		}
		out = appendU32(out, t)
	}
	if flags&0x01 == 0 { // active: offset expression
		if out, err = m.expr(r, out, nil, &exprInfo{}); err != nil {
			return nil, err
		}
	}
	exprs := flags&0x04 != 0
	if flags&0x03 != 0 { // element kind or reference type
		start := r.off
		if exprs {
			err = valType(r)
		} else {
			_, err = r.byte()
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r.b[start:r.off]...)
	}
	cnt, err := r.count()
	if err != nil {
		return nil, err
	}
	out = appendU32(out, cnt)
	for j := uint32(0); j < cnt; j++ {
		if exprs {
			if out, err = m.expr(r, out, nil, &exprInfo{}); err != nil {
				return nil, err
			}
			continue
		}
		idx, err := r.u32()
		if err != nil {
			return nil, err
		}
		if idx >= m.funcs {
			return nil, r.malformedf("function index %d out of range", idx)
		}
		out = appendU32(out, m.remap(idx))
	}
	return out, nil
}

func (m *module) rewriteCode(r *reader) ([]byte, error) {
	n, err := r.count()
	if err != nil {
		return nil, err
	}
	if n != uint32(len(m.funcTypes)) {
		return nil, r.malformedf("%d function bodies for %d functions", n, len(m.funcTypes))
	}
	out := appendU32(nil, n)
	var body []byte
	for i := uint32(0); i < n; i++ {
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", m.importedFuncs+i, err)
		}
		start := r.pos()
		b, err := r.bytes(size)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", m.importedFuncs+i, err)
		}
		if body, err = m.rewriteBody(&reader{b: b, base: start}, body[:0], m.params[m.funcTypes[i]]); err != nil {
			return nil, fmt.Errorf("function %d: %w", m.importedFuncs+i, err)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	return out, trailing(r)
}

// rewriteBody copies one function body with an extra i32 local, the fuel check at the head of
// every loop and, unless the body calls nothing or always reaches a loop first, at entry.
func (m *module) rewriteBody(r *reader, out []byte, params uint32) ([]byte, error) {
	groups, err := r.count()
	if err != nil {
		return nil, err
	}
	locals := uint64(params)
	start := r.off
	for g := uint32(0); g < groups; g++ {
		cnt, err := r.u32()
		if err != nil {
			return nil, err
		}
		if err := valType(r); err != nil {
			return nil, err
		}
		locals += uint64(cnt)
	}
	if locals > maxLocals {
		return nil, r.malformedf("%d locals (parameters included), more than the %d engines allow", locals, maxLocals)
	}
	out = appendU32(out, groups+1)
	out = append(out, r.b[start:r.off]...)
	out = append(out, 0x01, valI32)
	check := m.check(uint32(locals))
	code := len(out)
	var info exprInfo
	if out, err = m.expr(r, out, check, &info); err != nil {
		return nil, err
	}
	if info.calls && !info.loopFirst {
		out = append(out, check...)
		copy(out[code+len(check):], out[code:len(out)-len(check)])
		copy(out[code:], check)
	}
	return out, trailing(r)
}

// check is the fuel check using local l:
//
//	global.get fuel; i32.const 1; i32.sub; local.tee l; global.set fuel
//	local.get l; i32.eqz
//	if; i32.const Fuel; global.set fuel; call refuel; end
//
// The fuel is reset before the call, so a guest whose refuel call failed (a host panic) and
// that is called again still runs at most Fuel checks before the next refuel.
func (m *module) check(l uint32) []byte {
	b := make([]byte, 0, 40)
	b = append(b, opGlobalGet)
	b = appendU32(b, m.fuel)
	b = append(b, opI32Const, 0x01, opI32Sub, opLocalTee)
	b = appendU32(b, l)
	b = append(b, opGlobalSet)
	b = appendU32(b, m.fuel)
	b = append(b, opLocalGet)
	b = appendU32(b, l)
	b = append(b, opI32Eqz, opIf, blockEmpty, opI32Const)
	b = appendS32(b, Fuel)
	b = append(b, opGlobalSet)
	b = appendU32(b, m.fuel)
	b = append(b, opCall)
	b = appendU32(b, m.refuel)
	return append(b, opEnd)
}

// rewriteNames renumbers the function names (subsection 1) and local names (2) of the name
// section, names the refuel import, and drops the subsections other than these and the
// module name (0).
func (m *module) rewriteNames(r *reader) ([]byte, error) {
	out := appendName(nil, []byte("name"))
	haveFuncNames := false
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		p, err := r.name()
		if err != nil {
			return nil, fmt.Errorf("name subsection %d: %w", id, err)
		}
		sr := &reader{b: p, base: r.pos() - len(p)}
		var np []byte
		switch id {
		case 0:
			np = p
		case 1:
			haveFuncNames = true
			np, err = m.rewriteNameMap(sr, true)
		case 2:
			if !haveFuncNames {
				out = appendName(append(out, 1), m.refuelNameMap())
				haveFuncNames = true
			}
			np, err = m.rewriteIndirectNameMap(sr)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("name subsection %d: %w", id, err)
		}
		out = appendName(append(out, id), np)
	}
	if !haveFuncNames {
		out = appendName(append(out, 1), m.refuelNameMap())
	}
	return out, nil
}

func (m *module) refuelNameMap() []byte {
	b := appendU32(nil, 1)
	b = appendU32(b, m.refuel)
	return appendName(b, []byte(ImportModule+"."+ImportName))
}

// rewriteNameMap renumbers a function name map; with addRefuel it names the refuel import
// too, keeping the map sorted by index.
func (m *module) rewriteNameMap(r *reader, addRefuel bool) ([]byte, error) {
	n, err := r.count()
	if err != nil {
		return nil, err
	}
	total := n
	if addRefuel {
		total++
	}
	out := appendU32(nil, total)
	added := !addRefuel
	for i := uint32(0); i < n; i++ {
		idx, err := r.u32()
		if err != nil {
			return nil, err
		}
		name, err := r.name()
		if err != nil {
			return nil, err
		}
		if !added && idx >= m.importedFuncs {
			out = appendU32(out, m.refuel)
			out = appendName(out, []byte(ImportModule+"."+ImportName))
			added = true
		}
		out = appendU32(out, m.remap(idx))
		out = appendName(out, name)
	}
	if !added {
		out = appendU32(out, m.refuel)
		out = appendName(out, []byte(ImportModule+"."+ImportName))
	}
	return out, trailing(r)
}

// rewriteIndirectNameMap renumbers the functions of the local name map.
func (m *module) rewriteIndirectNameMap(r *reader) ([]byte, error) {
	n, err := r.count()
	if err != nil {
		return nil, err
	}
	out := appendU32(nil, n)
	for i := uint32(0); i < n; i++ {
		idx, err := r.u32()
		if err != nil {
			return nil, err
		}
		start := r.off
		cnt, err := r.count()
		if err != nil {
			return nil, err
		}
		for j := uint32(0); j < cnt; j++ {
			if _, err := r.u32(); err != nil {
				return nil, err
			}
			if _, err := r.name(); err != nil {
				return nil, err
			}
		}
		out = appendU32(out, m.remap(idx))
		out = append(out, r.b[start:r.off]...)
	}
	return out, trailing(r)
}

// validate checks a section the rewrite copies as it is (table, memory, tag, data, data
// count), so that every count and length in the output is backed by bytes.
func (m *module) validate(id byte, r *reader) error {
	if id == secDataCount {
		if _, err := r.u32(); err != nil {
			return err
		}
		return trailing(r)
	}
	n, err := r.count()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n && err == nil; i++ {
		switch id {
		case secTable:
			if len(r.b) > r.off && r.b[r.off] == 0x40 {
				return r.errorf("table %d: tables with initializer expressions are not supported", i)
			}
			if err = valType(r); err == nil {
				err = limits(r)
			}
		case secMemory:
			err = limits(r)
		case secTag:
			if _, err = r.byte(); err == nil {
				_, err = r.u32()
			}
		case secData:
			err = m.skipData(r)
		}
		if err != nil {
			return fmt.Errorf("%s %d: %w", sectionNames[id], i, err)
		}
	}
	return trailing(r)
}

// skipData skips one data segment: active (memory 0 or explicit) or passive.
func (m *module) skipData(r *reader) error {
	flags, err := r.u32()
	if err != nil {
		return err
	}
	switch flags {
	case 0, 2:
		if flags == 2 {
			if _, err := r.u32(); err != nil {
				return err
			}
		}
		if _, err := m.expr(r, nil, nil, &exprInfo{}); err != nil {
			return err
		}
	case 1:
	default:
		return r.malformedf("unknown data segment flags %d", flags)
	}
	_, err = r.name()
	return err
}
