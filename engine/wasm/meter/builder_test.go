package meter

// A tiny WebAssembly binary builder for hand-assembled test modules.

func u32(v uint32) []byte { return appendU32(nil, v) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func vec(items ...[]byte) []byte { return cat(u32(uint32(len(items))), cat(items...)) }

func str(s string) []byte { return appendName(nil, []byte(s)) }

func sec(id byte, payload ...[]byte) []byte {
	p := cat(payload...)
	return cat([]byte{id}, u32(uint32(len(p))), p)
}

func wasm(sections ...[]byte) []byte { return cat(header, cat(sections...)) }

func functype(params, results []byte) []byte {
	return cat([]byte{0x60}, u32(uint32(len(params))), params, u32(uint32(len(results))), results)
}

// body is a function body: local groups (count, type) and code (without the final end).
func body(locals [][2]byte, code ...[]byte) []byte {
	var l [][]byte
	for _, g := range locals {
		l = append(l, []byte{g[0], g[1]})
	}
	b := cat(vec(l...), cat(code...), []byte{opEnd})
	return cat(u32(uint32(len(b))), b)
}

func customSec(name string, payload ...[]byte) []byte {
	return sec(secCustom, str(name), cat(payload...))
}
