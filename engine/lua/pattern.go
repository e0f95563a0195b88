package lua

import (
	"context"
	"strings"
)

// The pattern matcher of the sandbox's string.find, match, gmatch and gsub: Lua 5.1 patterns
// with LuaJIT 2.1's semantics (what Envoy runs), written as a backtracking matcher over
// indices. Unlike gopher-lua's it stops within the call's CPU bound: every step is counted and
// every matchPoll steps the call's context is polled, so one catastrophic pattern cannot hold a
// worker. Errors are raised lazily, as in LuaJIT: a malformed part of a pattern is an error only
// when the matcher reaches it.

const (
	maxCaptures   = 32  // LUA_MAXCAPTURES
	maxMatchDepth = 200 // LuaJIT's LJ_MAX_XLEVEL: nested match calls ("pattern too complex")
	capUnfinished = -1
	capPosition   = -2
	// matchPoll is how many matcher steps run between two polls of the context (a poll is a
	// non-blocking channel receive; a step is a few nanoseconds), and checkEvery how many polls
	// between two synchronous checks of the bound (a CPU clock read, about a microsecond).
	matchPoll  = 1024
	checkEvery = 64
)

// patError is a pattern error; the library function raises it as a Lua error.
type patError string

// canceled is raised through the matcher when the call's context fired.
type canceled struct{ err error }

// matcher is the state of one match attempt sequence over src with pat.
type matcher struct {
	src   string
	pat   string // cut at its first NUL byte: LuaJIT's patterns are C strings
	level int    // captures opened (finished or not)
	depth int
	steps int
	polls int
	done  <-chan struct{}
	ctx   context.Context
	chk   checker // checks the call's bound synchronously (nil: none)
	caps  [maxCaptures]struct{ init, len int }
}

// init prepares m for src and pat under ctx (nil: unbounded) and chk.
func (m *matcher) init(ctx context.Context, chk checker, src, pat string) {
	if i := strings.IndexByte(pat, 0); i >= 0 {
		pat = pat[:i]
	}
	m.src, m.pat, m.ctx, m.chk = src, pat, ctx, chk
	if ctx != nil {
		m.done = ctx.Done()
	}
}

// at is the pattern byte at p, 0 past the end (the C terminator).
func (m *matcher) at(p int) byte {
	if p < len(m.pat) {
		return m.pat[p]
	}
	return 0
}

// step counts one unit of work.
func (m *matcher) step() { m.work(1) }

// work counts n units of work and polls the context every matchPoll units.
func (m *matcher) work(n int) {
	if m.steps += n; m.steps < matchPoll {
		return
	}
	m.steps = 0
	if m.done != nil {
		if m.polls++; m.polls%checkEvery == 0 && m.chk != nil {
			m.chk.check()
		}
		select {
		case <-m.done:
			panic(canceled{m.ctx.Err()})
		default:
		}
	}
}

// try runs one match attempt of m.pat[p:] at s: the end of the match, or -1.
func (m *matcher) try(s, p int) int {
	m.level, m.depth = 0, 0
	return m.match(s, p)
}

func (m *matcher) match(s, p int) int {
	m.depth++
	if m.depth > maxMatchDepth {
		panic(patError("pattern too complex"))
	}
	m.step()
	s = m.doMatch(s, p)
	m.depth--
	return s
}

func (m *matcher) doMatch(s, p int) int {
	for {
		if p >= len(m.pat) {
			return s
		}
		switch m.pat[p] {
		case '(':
			if m.at(p+1) == ')' {
				return m.startCapture(s, p+2, capPosition)
			}
			return m.startCapture(s, p+1, capUnfinished)
		case ')':
			return m.endCapture(s, p+1)
		case '%':
			switch c := m.at(p + 1); {
			case c == 'b':
				if s = m.matchBalance(s, p+2); s < 0 {
					return -1
				}
				p += 4
				continue
			case c == 'f':
				p += 2
				if m.at(p) != '[' {
					panic(patError("missing '[' after '%f' in pattern"))
				}
				ep := m.classEnd(p)
				var prev, cur byte
				if s > 0 {
					prev = m.src[s-1]
				}
				if s < len(m.src) {
					cur = m.src[s]
				}
				if m.bracket(prev, p, ep-1) || !m.bracket(cur, p, ep-1) {
					return -1
				}
				p = ep
				continue
			case isDigit(c):
				if s = m.matchCapture(s, c); s < 0 {
					return -1
				}
				p += 2
				continue
			}
		case '$':
			if p+1 == len(m.pat) {
				if s == len(m.src) {
					return s
				}
				return -1
			}
		}
		// A single-character class, maybe with a quantifier.
		ep := m.classEnd(p)
		ok := s < len(m.src) && m.single(m.src[s], p, ep)
		switch m.at(ep) {
		case '?':
			if ok {
				if r := m.match(s+1, ep+1); r >= 0 {
					return r
				}
			}
			p = ep + 1
		case '*':
			return m.maxExpand(s, p, ep)
		case '+':
			if !ok {
				return -1
			}
			return m.maxExpand(s+1, p, ep)
		case '-':
			return m.minExpand(s, p, ep)
		default:
			if !ok {
				return -1
			}
			s++
			p = ep
		}
	}
}

func (m *matcher) maxExpand(s, p, ep int) int {
	i := 0
	for s+i < len(m.src) && m.single(m.src[s+i], p, ep) {
		i++
		m.step()
	}
	for ; i >= 0; i-- {
		if r := m.match(s+i, ep+1); r >= 0 {
			return r
		}
	}
	return -1
}

func (m *matcher) minExpand(s, p, ep int) int {
	for {
		if r := m.match(s, ep+1); r >= 0 {
			return r
		}
		if s < len(m.src) && m.single(m.src[s], p, ep) {
			s++
		} else {
			return -1
		}
	}
}

func (m *matcher) startCapture(s, p, what int) int {
	if m.level >= maxCaptures {
		panic(patError("too many captures"))
	}
	m.caps[m.level].init, m.caps[m.level].len = s, what
	m.level++
	r := m.match(s, p)
	if r < 0 {
		m.level--
	}
	return r
}

func (m *matcher) endCapture(s, p int) int {
	l := -1
	for i := m.level - 1; i >= 0; i-- {
		if m.caps[i].len == capUnfinished {
			l = i
			break
		}
	}
	if l < 0 {
		panic(patError("invalid pattern capture"))
	}
	m.caps[l].len = s - m.caps[l].init
	r := m.match(s, p)
	if r < 0 {
		m.caps[l].len = capUnfinished
	}
	return r
}

func (m *matcher) matchBalance(s, p int) int {
	if p+1 >= len(m.pat) {
		panic(patError("unbalanced pattern"))
	}
	if s >= len(m.src) || m.src[s] != m.pat[p] {
		return -1
	}
	b, e, cont := m.pat[p], m.pat[p+1], 1
	for s++; s < len(m.src); s++ {
		m.step()
		if c := m.src[s]; c == e {
			if cont--; cont == 0 {
				return s + 1
			}
		} else if c == b {
			cont++
		}
	}
	return -1
}

// matchCapture matches a back reference %1-%9 (a position capture never matches).
func (m *matcher) matchCapture(s int, c byte) int {
	l := int(c) - '1'
	if l < 0 || l >= m.level || m.caps[l].len == capUnfinished {
		panic(patError("invalid capture index"))
	}
	n := m.caps[l].len
	if n < 0 || len(m.src)-s < n {
		return -1
	}
	init := m.caps[l].init
	if m.src[s:s+n] != m.src[init:init+n] {
		return -1
	}
	return s + n
}

// classEnd is the index just past the single-character class at p.
func (m *matcher) classEnd(p int) int {
	c := m.pat[p]
	p++
	switch c {
	case '%':
		if p >= len(m.pat) {
			panic(patError("malformed pattern (ends with '%')"))
		}
		return p + 1
	case '[':
		if m.at(p) == '^' {
			p++
		}
		for {
			if p >= len(m.pat) {
				panic(patError("malformed pattern (missing ']')"))
			}
			c := m.pat[p]
			p++
			if c == '%' && p < len(m.pat) {
				p++
			}
			if m.at(p) == ']' {
				return p + 1
			}
		}
	}
	return p
}

// single reports whether c matches the class m.pat[p:ep].
func (m *matcher) single(c byte, p, ep int) bool {
	switch m.pat[p] {
	case '.':
		return true
	case '%':
		return matchClass(c, m.pat[p+1])
	case '[':
		return m.bracket(c, p, ep-1)
	}
	return m.pat[p] == c
}

// bracket matches c against the set m.pat[p:ec+1] ('[' at p, ']' at ec).
func (m *matcher) bracket(c byte, p, ec int) bool {
	sig := true
	if m.at(p+1) == '^' {
		sig = false
		p++
	}
	for p++; p < ec; p++ {
		switch {
		case m.pat[p] == '%':
			p++
			if matchClass(c, m.pat[p]) {
				return sig
			}
		case m.at(p+1) == '-' && p+2 < ec:
			p += 2
			if m.pat[p-2] <= c && c <= m.pat[p] {
				return sig
			}
		case m.pat[p] == c:
			return sig
		}
	}
	return !sig
}

// matchClass matches c against %cl in the C locale.
func matchClass(c, cl byte) bool {
	var res bool
	switch cl | 0x20 {
	case 'a':
		res = isAlpha(c)
	case 'c':
		res = c < 0x20 || c == 0x7f
	case 'd':
		res = isDigit(c)
	case 'l':
		res = 'a' <= c && c <= 'z'
	case 'p':
		res = isPunct(c)
	case 's':
		res = c == ' ' || ('\t' <= c && c <= '\r')
	case 'u':
		res = 'A' <= c && c <= 'Z'
	case 'w':
		res = isAlpha(c) || isDigit(c)
	case 'x':
		res = isDigit(c) || ('a' <= c|0x20 && c|0x20 <= 'f')
	case 'z':
		res = c == 0
	default:
		return cl == c
	}
	if 'a' <= cl && cl <= 'z' {
		return res
	}
	return !res
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
func isPunct(c byte) bool {
	return (0x21 <= c && c <= 0x2f) || (0x3a <= c && c <= 0x40) || (0x5b <= c && c <= 0x60) || (0x7b <= c && c <= 0x7e)
}

// hasPattern reports whether p has a pattern character (LuaJIT's lj_str_haspattern): find
// without one is a plain search.
func hasPattern(p string) bool { return strings.ContainsAny(p, "^$*+?.([%-") }

// capture is capture i of the last successful attempt over src[s:e] (i == 0 with no captures:
// the whole match). A position capture is an index (isPos), otherwise a substring.
func (m *matcher) capture(i, s, e int) (str string, pos int, isPos bool) {
	if i >= m.level {
		if i == 0 {
			return m.src[s:e], 0, false
		}
		panic(patError("invalid capture index"))
	}
	switch n := m.caps[i].len; n {
	case capUnfinished:
		panic(patError("unfinished capture"))
	case capPosition:
		return "", m.caps[i].init + 1, true
	default:
		return m.src[m.caps[i].init : m.caps[i].init+n], 0, false
	}
}

// nCaptures is the number of values push_captures pushes (whole: the whole match counts when
// there is no capture).
func (m *matcher) nCaptures(whole bool) int {
	if m.level == 0 && whole {
		return 1
	}
	return m.level
}
