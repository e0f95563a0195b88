package meter

import (
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by the errors of Instrument for input that is not a well-formed
// module (truncated, out of order, lengths and counts beyond the bytes present, too many
// locals): such input is not worth handing to any other decoder, some of which preallocate
// what the counts claim. Other errors are features the rewriter does not support.
var ErrMalformed = errors.New("malformed module")

// errEOF is the cause of every read past the end of its input.
var errEOF = fmt.Errorf("%w: unexpected end", ErrMalformed)

// reader reads the Wasm binary encoding from b; base is the offset of b[0] in the module,
// for error messages.
type reader struct {
	b    []byte
	off  int
	base int
}

func (r *reader) pos() int   { return r.base + r.off }
func (r *reader) done() bool { return r.off >= len(r.b) }

// errorf describes something the rewriter does not support.
func (r *reader) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %#x: %s", r.pos(), fmt.Sprintf(format, args...))
}

// malformedf describes malformed input (wrapping ErrMalformed).
func (r *reader) malformedf(format string, args ...any) error {
	return fmt.Errorf("offset %#x: %w: %s", r.pos(), ErrMalformed, fmt.Sprintf(format, args...))
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, fmt.Errorf("offset %#x: %w", r.pos(), errEOF)
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) bytes(n uint32) ([]byte, error) {
	if uint64(n) > uint64(len(r.b)-r.off) {
		return nil, fmt.Errorf("offset %#x: %d bytes wanted, %d left: %w", r.pos(), n, len(r.b)-r.off, errEOF)
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s, nil
}

// uleb reads an unsigned LEB128 number of at most bits bits.
func (r *reader) uleb(bits uint) (uint64, error) {
	start := r.pos()
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift+7 > bits && uint64(c&0x7f)>>(bits-shift) != 0 {
			return 0, fmt.Errorf("offset %#x: %w: LEB128 number overflows %d bits", start, ErrMalformed, bits)
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
		if shift+7 >= bits {
			return 0, fmt.Errorf("offset %#x: %w: LEB128 number longer than %d bits", start, ErrMalformed, bits)
		}
	}
}

// sleb reads a signed LEB128 number of at most bits bits (32, 33 or 64).
func (r *reader) sleb(bits uint) (int64, error) {
	start := r.pos()
	var v int64
	var shift uint
	for {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			if bits < 64 && (v < -(1<<(bits-1)) || v >= 1<<(bits-1)) {
				return 0, fmt.Errorf("offset %#x: %w: signed LEB128 number overflows %d bits", start, ErrMalformed, bits)
			}
			return v, nil
		}
		if shift >= bits {
			return 0, fmt.Errorf("offset %#x: %w: signed LEB128 number longer than %d bits", start, ErrMalformed, bits)
		}
	}
}

// count reads the length of a vector, which cannot exceed the bytes left (every element takes
// at least one).
func (r *reader) count() (uint32, error) {
	n, err := r.u32()
	if err == nil && uint64(n) > uint64(len(r.b)-r.off) {
		return 0, r.malformedf("vector of %d elements in %d bytes", n, len(r.b)-r.off)
	}
	return n, err
}

func (r *reader) u32() (uint32, error) {
	v, err := r.uleb(32)
	return uint32(v), err
}

// name reads a length-prefixed byte string.
func (r *reader) name() ([]byte, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	return r.bytes(n)
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendS32(b []byte, v int32) []byte {
	x := int64(v)
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s []byte) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
