package meter

// Opcodes the rewriter emits or rewrites.
const (
	opBlock      = 0x02
	opLoop       = 0x03
	opIf         = 0x04
	opTry        = 0x06
	opEnd        = 0x0b
	opCall       = 0x10
	opReturnCall = 0x12
	opTryTable   = 0x1f
	opLocalGet   = 0x20
	opLocalTee   = 0x22
	opGlobalGet  = 0x23
	opGlobalSet  = 0x24
	opI32Const   = 0x41
	opI32Eqz     = 0x45
	opI32Sub     = 0x6b
	opRefFunc    = 0xd2
	blockEmpty   = 0x40
	valI32       = 0x7f
)

// exprInfo is what expr learns about a function body.
type exprInfo struct {
	// calls: the body contains a call instruction (direct, indirect, tail or by reference).
	calls bool
	// loopFirst: the body reaches a loop before any instruction that could branch, call,
	// throw or return, so every execution runs that loop's check first.
	loopFirst bool
}

// expr copies one expression (a function body's instructions or a constant expression) from r
// to out, up to and including its final end, remapping function indices and, when check is
// non-nil, appending check right after the blocktype of every loop.
func (m *module) expr(r *reader, out []byte, check []byte, info *exprInfo) ([]byte, error) {
	depth := 0
	straight := true // no instruction so far could leave the straight line
	for {
		start := r.off
		op, err := r.byte()
		if err != nil {
			return nil, err
		}
		if straight && op == opLoop {
			info.loopFirst = true
		}
		if straight && !straightLine(op) {
			straight = false
		}
		if isCall(op) {
			info.calls = true
		}
		switch {
		case op == opBlock || op == opIf || op == opTry:
			err = blockType(r)
			depth++
		case op == opLoop:
			if err = blockType(r); err != nil {
				return nil, err
			}
			depth++
			out = append(out, r.b[start:r.off]...)
			out = append(out, check...)
			continue
		case op == opTryTable:
			if err = blockType(r); err != nil {
				return nil, err
			}
			err = catches(r)
			depth++
		case op == opEnd:
			depth--
			if depth < 0 {
				return append(out, op), nil
			}
		case op == opCall || op == opReturnCall || op == opRefFunc:
			idx, err := r.u32()
			if err != nil {
				return nil, err
			}
			if idx >= m.funcs {
				return nil, r.malformedf("function index %d out of range (%d functions)", idx, m.funcs)
			}
			out = append(out, op)
			out = appendU32(out, m.remap(idx))
			continue
		case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0a || op == 0x0f || op == 0x19 ||
			op == 0x1a || op == 0x1b || (op >= 0x45 && op <= 0xc4) || op == 0xd1 || op == 0xd3 || op == 0xd5:
			// No immediates: unreachable nop else throw_ref return catch_all drop select,
			// numeric and sign-extension ops, ref.is_null ref.as_non_null ref.eq.
		case op == 0x07 || op == 0x08 || op == 0x09 || op == 0x0c || op == 0x0d || op == 0x14 ||
			op == 0x15 || (op >= 0x20 && op <= 0x26) || op == 0x3f || op == 0x40 ||
			op == 0xd4 || op == 0xd6:
			// One index: catch throw rethrow br br_if call_ref return_call_ref,
			// local/global/table get/set, memory.size/grow, br_on_null/br_on_non_null.
			_, err = r.u32()
		case op == 0x18: // delegate label: ends a legacy try block
			_, err = r.u32()
			depth--
			if depth < 0 {
				return nil, r.malformedf("delegate outside a try block")
			}
		case op == 0x0e: // br_table
			err = skipU32s(r, 1)
		case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
			_, err = r.u32()
			if err == nil {
				_, err = r.u32()
			}
		case op == 0x1c: // select t*
			var n uint32
			if n, err = r.count(); err == nil {
				for i := uint32(0); i < n && err == nil; i++ {
					err = valType(r)
				}
			}
		case op >= 0x28 && op <= 0x3e:
			err = memArg(r)
		case op == 0x41:
			_, err = r.sleb(32)
		case op == 0x42:
			_, err = r.sleb(64)
		case op == 0x43:
			_, err = r.bytes(4)
		case op == 0x44:
			_, err = r.bytes(8)
		case op == 0xd0: // ref.null heaptype
			_, err = r.sleb(33)
		case op == 0xfc:
			err = prefixFC(r)
		case op == 0xfd:
			err = prefixFD(r)
		case op == 0xfe:
			err = prefixFE(r)
		default:
			return nil, r.errorf("unknown opcode %#x", op)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r.b[start:r.off]...)
	}
}

// blockType skips a blocktype: empty, a value type or a type index (s33).
func blockType(r *reader) error {
	start := r.off
	v, err := r.sleb(33)
	if err != nil {
		return err
	}
	if v < 0 && (v == -0x1d || v == -0x1c) { // (ref null ht), (ref ht)
		r.off = start
		return valType(r)
	}
	return nil
}

// catches skips the catch clauses of try_table.
func catches(r *reader) error {
	n, err := r.count()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		kind, err := r.byte()
		if err != nil {
			return err
		}
		switch kind {
		case 0x00, 0x01: // catch, catch_ref: tag label
			_, err = r.u32()
			if err == nil {
				_, err = r.u32()
			}
		case 0x02, 0x03: // catch_all, catch_all_ref: label
			_, err = r.u32()
		default:
			return r.errorf("unknown try_table catch kind %#x", kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// skipU32s skips a vector of u32 followed by extra more u32.
func skipU32s(r *reader, extra uint32) error {
	n, err := r.count()
	if err != nil {
		return err
	}
	for i := uint64(0); i < uint64(n)+uint64(extra); i++ {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	return nil
}

// memArg skips a memarg: alignment (bit 6: a memory index follows) and offset.
func memArg(r *reader) error {
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	_, err = r.uleb(64)
	return err
}

// prefixFC skips a 0xFC instruction: saturating truncation, bulk memory and table ops.
func prefixFC(r *reader) error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	var n int
	switch {
	case sub <= 7:
	case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
		n = 2
	case sub == 9, sub == 11, sub == 13, sub == 15, sub == 16, sub == 17:
		n = 1
	default:
		return r.errorf("unknown opcode 0xfc %d", sub)
	}
	for i := 0; i < n; i++ {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	return nil
}

// prefixFD skips a 0xFD (SIMD, relaxed SIMD) instruction.
func prefixFD(r *reader) error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 0x0b || sub == 0x5c || sub == 0x5d: // loads, store, load zero
		return memArg(r)
	case sub == 0x0c || sub == 0x0d: // v128.const, i8x16.shuffle
		_, err = r.bytes(16)
	case sub >= 0x15 && sub <= 0x22: // extract/replace lane
		_, err = r.byte()
	case sub >= 0x54 && sub <= 0x5b: // load/store lane
		if err = memArg(r); err == nil {
			_, err = r.byte()
		}
	case sub <= 0x113:
	default:
		return r.errorf("unknown opcode 0xfd %d", sub)
	}
	return err
}

// prefixFE skips a 0xFE (threads: atomics) instruction.
func prefixFE(r *reader) error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub == 0x03: // atomic.fence
		_, err = r.byte()
		return err
	case sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e):
		return memArg(r)
	}
	return r.errorf("unknown opcode 0xfe %d", sub)
}

// valType skips a value type (number, vector or reference type).
func valType(r *reader) error {
	c, err := r.byte()
	if err != nil {
		return err
	}
	switch c {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x69:
		return nil
	case 0x63, 0x64: // (ref null ht), (ref ht)
		_, err = r.sleb(33)
		return err
	}
	r.off--
	return r.errorf("unknown value type %#x", c)
}

// straightLine reports whether op can neither branch, call, throw nor return: block, nop,
// locals and globals, loads and stores, constants and numeric operators, drop and select.
func straightLine(op byte) bool {
	return op == opBlock || op == 0x01 || op == 0x1a || op == 0x1b || (op >= 0x20 && op <= 0x24) ||
		(op >= 0x28 && op <= 0x3e) || (op >= 0x41 && op <= 0xc4)
}

// isCall reports whether op calls a function: call, call_indirect, return_call,
// return_call_indirect, call_ref, return_call_ref.
func isCall(op byte) bool { return op >= opCall && op <= 0x15 }
