package lua

import (
	"sort"
	"strings"
	"unsafe"

	glua "github.com/yuin/gopher-lua"
)

// The sandbox's bounded library functions. gopher-lua checks the call's context between VM
// instructions, and one library call is one instruction; these functions therefore bound
// themselves: long loops poll the context (a catastrophic pattern, a sort of a huge table stops
// within the call's CPU bound, "context deadline exceeded" as for a VM timeout), and every result
// is charged against the call's allocation budget before it is allocated (its size computed up
// front, or each growth of the result buffer reserved before it happens), so one call cannot
// allocate past Options.MaxCallAlloc or build a string longer than Options.MaxStringBytes.

// copyChunk is how many bytes a copying loop handles between two polls of the context.
const copyChunk = 1 << 20

// beginCall resets the allocation charged to library functions; called when a call is armed.
func (v *vm) beginCall() { v.spent = 0 }

// reserve charges n bytes that fn is about to allocate against the call's budget.
func (v *vm) reserve(L *glua.LState, fn string, n int64) {
	if limit := v.p.opts.memMax(); limit > 0 && uint64(v.spent)+uint64(n) > limit {
		L.RaiseError("%s: call memory bound exceeded (%d bytes asked, %d of %d left in this call)",
			fn, n, int64(limit)-v.spent, limit)
	}
	v.spent += n
}

// reserveString reserves a string of n bytes (bounded by Options.MaxStringBytes too).
func (v *vm) reserveString(L *glua.LState, fn string, n int64) {
	if n > int64(v.p.opts.MaxStringBytes) {
		L.RaiseError("%s: resulting string too large (%d bytes, at most %d)", fn, n, v.p.opts.MaxStringBytes)
	}
	v.reserve(L, fn, n)
}

// poll checks the call's bound (synchronously, see deadline.check: the state's deadline, also
// for a coroutine the script created, whose context derives from it) and raises the context's
// error when it fired; callers poll every copyChunk bytes or so of work.
func (v *vm) poll(L *glua.LState) {
	if ctx := L.Context(); ctx != nil {
		v.dl.check()
		select {
		case <-ctx.Done():
			L.RaiseError("%s", ctx.Err().Error())
		default:
		}
	}
}

// raiseMatch turns a matcher panic (pattern error, context fired) into a Lua error; it is
// deferred by the functions running the matcher and passes any other panic on.
func raiseMatch(L *glua.LState) {
	switch r := recover().(type) {
	case nil:
	case patError:
		L.RaiseError("%s", string(r))
	case canceled:
		L.RaiseError("%s", r.err.Error())
	default:
		panic(r)
	}
}

// sbuf builds a result string; each growth of its buffer is reserved before it is allocated,
// and the final string shares the buffer (no copy).
type sbuf struct {
	v  *vm
	L  *glua.LState
	fn string
	b  []byte
}

func (b *sbuf) grow(n int) {
	need := len(b.b) + n
	if need <= cap(b.b) {
		return
	}
	limit := b.v.p.opts.MaxStringBytes
	if need > limit || need < 0 {
		b.L.RaiseError("%s: resulting string too large (more than %d bytes)", b.fn, limit)
	}
	c := min(max(2*cap(b.b), need, 64), limit)
	b.v.reserve(b.L, b.fn, int64(c-cap(b.b)))
	nb := make([]byte, len(b.b), c)
	copy(nb, b.b)
	b.b = nb
}

func (b *sbuf) add(s string) {
	b.grow(len(s))
	b.b = append(b.b, s...)
}

func (b *sbuf) addByte(c byte) {
	b.grow(1)
	b.b = append(b.b, c)
}

func (b *sbuf) String() string { return unsafe.String(unsafe.SliceData(b.b), len(b.b)) }

// exact returns a buffer of exactly n bytes, reserved, for a result whose size is known.
func (v *vm) exact(L *glua.LState, fn string, n int) []byte {
	v.reserveString(L, fn, int64(n))
	return make([]byte, n)
}

func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// openBoundedLib installs the bounded functions over gopher-lua's in the string, table and
// base libraries (the string table is also the strings' __index, so s:find works).
func (v *vm) openBoundedLib(str, tab, base *glua.LTable) {
	L := v.L
	set := func(t *glua.LTable, name string, fn glua.LGFunction) { t.RawSetString(name, L.NewFunction(fn)) }
	set(str, "find", func(L *glua.LState) int { return v.findAux(L, true) })
	set(str, "match", func(L *glua.LState) int { return v.findAux(L, false) })
	gmatch := L.NewFunction(v.strGmatch)
	str.RawSetString("gmatch", gmatch)
	str.RawSetString("gfind", gmatch)
	set(str, "gsub", v.strGsub)
	set(str, "rep", v.strRep)
	set(str, "upper", func(L *glua.LState) int { return v.mapBytes(L, "string.upper", 'a', 'z', 256-('a'-'A')) })
	set(str, "lower", func(L *glua.LState) int { return v.mapBytes(L, "string.lower", 'A', 'Z', 'a'-'A') })
	set(str, "reverse", v.strReverse)
	set(str, "char", v.strChar)
	origFormat := str.RawGetString("format").(*glua.LFunction)
	set(str, "format", func(L *glua.LState) int { return v.strFormat(L, origFormat) })
	set(tab, "concat", v.tabConcat)
	set(tab, "sort", v.tabSort)
	set(tab, "insert", v.tabInsert)
	set(base, "unpack", v.unpack)
}

// findAux is string.find (find) and string.match.
func (v *vm) findAux(L *glua.LState, find bool) int {
	s, p := L.CheckString(1), L.CheckString(2)
	st := L.OptInt(3, 1)
	if st < 0 {
		st += len(s)
	} else {
		st--
	}
	st = max(0, min(st, len(s)))
	if find && (glua.LVAsBool(L.Get(4)) || !hasPattern(p)) {
		i := strings.Index(s[st:], p)
		if i < 0 {
			L.Push(glua.LNil)
			return 1
		}
		L.Push(glua.LNumber(st + i + 1))
		L.Push(glua.LNumber(st + i + len(p)))
		return 2
	}
	anchor := len(p) > 0 && p[0] == '^'
	if anchor {
		p = p[1:]
	}
	var m matcher
	m.init(L.Context(), v.dl, s, p)
	defer raiseMatch(L)
	for sp := st; ; sp++ {
		if e := m.try(sp, 0); e >= 0 {
			if find {
				L.Push(glua.LNumber(sp + 1))
				L.Push(glua.LNumber(e))
				return m.push(L, -1, -1, false) + 2
			}
			return m.push(L, sp, e, true)
		}
		if sp >= len(s) || anchor {
			break
		}
	}
	L.Push(glua.LNil)
	return 1
}

// push pushes the captures of the last match over src[s:e].
func (m *matcher) push(L *glua.LState, s, e int, whole bool) int {
	n := m.nCaptures(whole)
	for i := 0; i < n; i++ {
		str, pos, isPos := m.capture(i, s, e)
		if isPos {
			L.Push(glua.LNumber(pos))
		} else {
			L.Push(glua.LString(str))
		}
	}
	return n
}

// strGmatch returns an iterator that matches lazily, one match per call (gopher-lua's finds
// every match up front). '^' is an ordinary character here, as in LuaJIT.
func (v *vm) strGmatch(L *glua.LState) int {
	s, p := L.CheckString(1), L.CheckString(2)
	pos := 0
	L.Push(L.NewFunction(func(L *glua.LState) int {
		var m matcher
		m.init(L.Context(), v.dl, s, p)
		defer raiseMatch(L)
		for src := pos; src <= len(s); src++ {
			if e := m.try(src, 0); e >= 0 {
				pos = e
				if e == src {
					pos++ // an empty match moves on by one
				}
				return m.push(L, src, e, true)
			}
		}
		return 0
	}))
	return 1
}

func (v *vm) strGsub(L *glua.LState) int {
	const fn = "string.gsub"
	src, p := L.CheckString(1), L.CheckString(2)
	repl := L.Get(3)
	switch repl.(type) {
	case glua.LString, glua.LNumber, *glua.LTable, *glua.LFunction:
	default:
		L.ArgError(3, "string/function/table expected")
	}
	maxN := L.OptInt(4, len(src)+1)
	anchor := len(p) > 0 && p[0] == '^'
	if anchor {
		p = p[1:]
	}
	var m matcher
	m.init(L.Context(), v.dl, src, p)
	b := sbuf{v: v, L: L, fn: fn}
	defer raiseMatch(L)
	n, s := 0, 0
loop:
	for n < maxN {
		e := m.try(s, 0)
		if e >= 0 {
			n++
			v.gsubValue(L, &m, &b, repl, s, e)
		}
		switch {
		case e > s:
			s = e
		case s < len(src):
			b.addByte(src[s])
			s++
		default:
			break loop
		}
		if anchor {
			break
		}
	}
	b.add(src[s:])
	L.Push(glua.LString(b.String()))
	L.Push(glua.LNumber(n))
	return 2
}

// gsubValue appends the replacement of the match src[s:e].
func (v *vm) gsubValue(L *glua.LState, m *matcher, b *sbuf, repl glua.LValue, s, e int) {
	var val glua.LValue
	switch r := repl.(type) {
	case glua.LString, glua.LNumber:
		news := glua.LVAsString(r)
		m.work(len(news))
		for i := 0; i < len(news); i++ {
			if news[i] != '%' {
				run := strings.IndexByte(news[i:], '%')
				if run < 0 {
					run = len(news) - i
				}
				b.add(news[i : i+run])
				i += run - 1
				continue
			}
			i++
			var d byte // a trailing '%' adds the C terminator, as in LuaJIT
			if i < len(news) {
				d = news[i]
			}
			switch {
			case !isDigit(d):
				b.addByte(d)
			case d == '0':
				b.add(m.src[s:e])
			default:
				str, pos, isPos := m.capture(int(d-'1'), s, e)
				if isPos {
					str = glua.LNumber(pos).String()
				}
				b.add(str)
			}
		}
		return
	case *glua.LFunction:
		L.Push(r)
		L.Call(m.push(L, s, e, true), 1)
		val = L.Get(-1)
		L.Pop(1)
	case *glua.LTable:
		str, pos, isPos := m.capture(0, s, e)
		var key glua.LValue = glua.LString(str)
		if isPos {
			key = glua.LNumber(pos)
		}
		val = L.GetTable(r, key)
	}
	switch x := val.(type) {
	case glua.LString:
		b.add(string(x))
	case glua.LNumber:
		b.add(x.String())
	default:
		if !glua.LVAsBool(val) {
			b.add(m.src[s:e]) // nil or false: keep the match
			return
		}
		L.RaiseError("invalid replacement value (a %s)", val.Type().String())
	}
}

func (v *vm) strRep(L *glua.LState) int {
	s := L.CheckString(1)
	n := L.CheckInt(2)
	sep := L.OptString(3, "") // LuaJIT 2.1 (5.2 compatibility) accepts a separator
	if n <= 0 || (len(s) == 0 && len(sep) == 0) {
		L.Push(glua.LString(""))
		return 1
	}
	if unit := len(s) + len(sep); n > v.p.opts.MaxStringBytes/unit {
		L.RaiseError("resulting string too large")
	}
	unit := len(s) + len(sep)
	total := n*unit - len(sep)
	out := v.exact(L, "string.rep", total)
	w := copy(out, s)
	w += copy(out[w:], sep)
	// Double the periodic prefix (w stays a multiple of unit), a chunk at a time.
	step := max(unit, copyChunk/unit*unit)
	for w < total {
		w += copy(out[w:], out[:min(w, step)])
		if w >= copyChunk {
			v.poll(L)
		}
	}
	L.Push(glua.LString(bytesString(out)))
	return 1
}

// mapBytes is LuaJIT's upper/lower: ASCII letters only (C locale); gopher-lua's are
// Unicode-aware.
func (v *vm) mapBytes(L *glua.LState, fn string, lo, hi byte, delta byte) int {
	s := L.CheckString(1)
	i := 0
	for i < len(s) && (s[i] < lo || s[i] > hi) {
		i++
	}
	if i == len(s) {
		L.Push(glua.LString(s))
		return 1
	}
	out := v.exact(L, fn, len(s))
	copy(out, s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if lo <= c && c <= hi {
			c += delta
		}
		out[i] = c
		if i%copyChunk == copyChunk-1 {
			v.poll(L)
		}
	}
	L.Push(glua.LString(bytesString(out)))
	return 1
}

func (v *vm) strReverse(L *glua.LState) int {
	s := L.CheckString(1)
	out := v.exact(L, "string.reverse", len(s))
	for i, j := 0, len(s)-1; j >= 0; i, j = i+1, j-1 {
		out[i] = s[j]
		if i%copyChunk == copyChunk-1 {
			v.poll(L)
		}
	}
	L.Push(glua.LString(bytesString(out)))
	return 1
}

func (v *vm) strChar(L *glua.LState) int {
	top := L.GetTop()
	out := v.exact(L, "string.char", top)
	for i := 1; i <= top; i++ {
		c := L.CheckInt(i)
		if c < 0 || c > 255 {
			L.ArgError(i, "invalid value")
		}
		out[i-1] = byte(c)
	}
	L.Push(glua.LString(bytesString(out)))
	return 1
}

// strFormat bounds gopher-lua's string.format: widths and precisions of more than two digits
// are refused as in LuaJIT (Go's fmt would pad to any width), and an upper bound of the result
// is reserved before formatting.
func (v *vm) strFormat(L *glua.LState, orig *glua.LFunction) int {
	f := L.CheckString(1)
	size, bad := formatSize(f, L.GetTop()-1, func(i int) glua.LValue { return L.Get(i + 1) })
	if bad != "" {
		L.RaiseError("invalid option '%s' to 'format'", bad)
	}
	v.reserveString(L, "string.format", size)
	top := L.GetTop()
	L.Insert(orig, 1)
	L.Call(top, 1)
	return 1
}

// formatSize is an upper bound of the length gopher-lua's string.format gives f with nargs
// arguments (arg(1) the first), or the offending spec of a width or precision of more than
// two digits.
func formatSize(f string, nargs int, arg func(int) glua.LValue) (size int64, bad string) {
	size = int64(len(f))
	var buf [16]byte
	verbs := buf[:0]
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		if i++; i < len(f) && f[i] == '%' {
			continue
		}
		start := i - 1
		for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
			i++
		}
		width, prec, ok := 0, 0, true
		if width, i, ok = twoDigits(f, i); ok && i < len(f) && f[i] == '.' {
			prec, i, ok = twoDigits(f, i+1)
		}
		if !ok {
			return 0, f[start : i+1]
		}
		var verb byte
		if i < len(f) {
			verb = f[i]
		}
		verbs = append(verbs, verb)
		size += int64(width + prec)
	}
	// gopher-lua passes as many arguments as it counts specs (its own count); Go prints the
	// unused ones after the result ("%!(EXTRA ...)"). A number prints in at most ~330
	// characters (%f of 1e308), another value as a short name ("table: 0x..."); 400 bytes per
	// value cover those and Go's marks for a bad verb or a missing argument.
	npat := strings.Count(f, "%") - strings.Count(f, "%%")
	size += 400 * int64(max(len(verbs), npat))
	for k := 1; k <= min(npat, nargs); k++ {
		s, ok := arg(k).(glua.LString)
		if !ok {
			continue
		}
		var verb byte
		if k <= len(verbs) {
			verb = verbs[k-1]
		}
		switch verb {
		case 'q':
			size += 4 * int64(len(s))
		case 'x', 'X':
			size += 3 * int64(len(s))
		default:
			size += int64(len(s))
		}
	}
	return size, ""
}

// twoDigits reads a format width or precision at f[i:]: at most two digits (ok false at the
// third, i then at it).
func twoDigits(f string, i int) (n, next int, ok bool) {
	for k := 0; i < len(f) && isDigit(f[i]); k++ {
		if k == 2 {
			return 0, i, false
		}
		n = n*10 + int(f[i]-'0')
		i++
	}
	return n, i, true
}

// tabConcat is table.concat with LuaJIT's semantics (i..j over t[k], j defaulting to #t; an
// element that is neither a string nor a number is an error); the total length is computed
// and reserved before the result is built.
func (v *vm) tabConcat(L *glua.LState) int {
	const fn = "table.concat"
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	i := L.OptInt(3, 1)
	j := t.Len()
	if L.Get(4) != glua.LNil {
		j = L.CheckInt(4)
	}
	if i > j {
		L.Push(glua.LString(""))
		return 1
	}
	var total int64
	limit := int64(v.p.opts.MaxStringBytes)
	for k := i; ; k++ {
		switch x := t.RawGetInt(k).(type) {
		case glua.LString:
			total += int64(len(x))
		case glua.LNumber:
			total += int64(len(x.String()))
		default:
			L.RaiseError("invalid value (%s) at index %d in table for 'concat'", x.Type().String(), k)
		}
		if k == j {
			break
		}
		total += int64(len(sep))
		if total > limit {
			v.reserveString(L, fn, total) // raises
		}
		if (k-i)%65536 == 65535 {
			v.poll(L)
		}
	}
	out := v.exact(L, fn, int(total))
	w, copied := 0, 0
	for k := i; ; k++ {
		var s string
		switch x := t.RawGetInt(k).(type) {
		case glua.LString:
			s = string(x)
		case glua.LNumber:
			s = x.String()
		}
		w += copy(out[w:], s)
		if k == j {
			break
		}
		w += copy(out[w:], sep)
		if copied += len(s) + len(sep) + 16; copied >= copyChunk {
			copied = 0
			v.poll(L)
		}
	}
	L.Push(glua.LString(bytesString(out)))
	return 1
}

// tabSort sorts t[1..#t] with the same algorithm as gopher-lua (sort.Sort) on a copy of the
// elements, polling the context every sortPoll comparisons (a comparator function is Lua
// code, bounded by the VM; a huge table's Go comparisons are not).
func (v *vm) tabSort(L *glua.LState) int {
	t := L.CheckTable(1)
	var fn *glua.LFunction
	if L.GetTop() != 1 {
		fn = L.CheckFunction(2)
	}
	n := t.Len()
	v.reserve(L, "table.sort", int64(n)*16)
	// A small sort reuses the state's sorter (taken while in use: a comparator may sort).
	s := v.sorter
	v.sorter = nil
	if s == nil || cap(s.vals) < n {
		s = &sorter{vals: make([]glua.LValue, 0, n)}
	}
	s.v, s.L, s.fn, s.vals, s.calls = v, L, fn, s.vals[:n], 0
	for k := range s.vals {
		s.vals[k] = t.RawGetInt(k + 1)
		if k%65536 == 65535 {
			v.poll(L)
		}
	}
	sort.Sort(s)
	for k, x := range s.vals {
		t.RawSetInt(k+1, x)
	}
	if cap(s.vals) <= 256 {
		clear(s.vals)
		s.v, s.L, s.fn = nil, nil, nil
		v.sorter = s
	}
	return 0
}

// insertShift is the table length up to which table.insert shifts with gopher-lua's one copy
// (a memmove of at most 16 MiB, about a millisecond); longer tables shift element by element,
// polling the context.
const insertShift = 1 << 20

// tabInsert is gopher-lua's table.insert, except that inserting into a very long table (one
// grown over many calls) is interruptible.
func (v *vm) tabInsert(L *glua.LState) int {
	t := L.CheckTable(1)
	switch L.GetTop() {
	case 1:
		L.RaiseError("wrong number of arguments")
	case 2:
		t.Append(L.Get(2))
		return 0
	}
	pos, val := L.CheckInt(2), L.CheckAny(3)
	n := t.Len()
	if n <= insertShift || pos < 1 || pos > n {
		t.Insert(pos, val)
		return 0
	}
	for i := n; i >= pos; i-- {
		t.RawSetInt(i+1, t.RawGetInt(i))
		if (n-i)%65536 == 65535 {
			v.poll(L)
		}
	}
	t.RawSetInt(pos, val)
	return 0
}

const sortPoll = 4096

type sorter struct {
	v     *vm
	L     *glua.LState
	fn    *glua.LFunction
	vals  []glua.LValue
	calls int
}

func (s *sorter) Len() int      { return len(s.vals) }
func (s *sorter) Swap(i, j int) { s.vals[i], s.vals[j] = s.vals[j], s.vals[i] }
func (s *sorter) Less(i, j int) bool {
	if s.calls++; s.calls%sortPoll == 0 {
		s.v.poll(s.L)
	}
	if s.fn == nil {
		return s.L.LessThan(s.vals[i], s.vals[j])
	}
	s.L.Push(s.fn)
	s.L.Push(s.vals[i])
	s.L.Push(s.vals[j])
	s.L.Call(2, 1)
	r := glua.LVAsBool(s.L.Get(-1))
	s.L.Pop(1)
	return r
}

// unpack refuses, as LuaJIT does, more results than the stack can take before pushing any.
func (v *vm) unpack(L *glua.LState) int {
	t := L.CheckTable(1)
	i := L.OptInt(2, 1)
	e := t.Len()
	if L.Get(3) != glua.LNil {
		e = L.CheckInt(3)
	}
	if i > e {
		return 0
	}
	n := int64(e) - int64(i) + 1
	if n <= 0 || n > int64(v.p.opts.RegistryMax) {
		L.RaiseError("too many results to unpack")
	}
	v.reserve(L, "unpack", n*16)
	for k := i; k <= e; k++ {
		L.Push(t.RawGetInt(k))
	}
	return int(n)
}
