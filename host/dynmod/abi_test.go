package dynmod

import (
	"testing"

	"github.com/trafficext/trafficext/core"
)

// TestAttributeIDsContiguous checks the id table's shape: the ABI enum numbers its attributes
// 0, 1, 2, … without gaps, so the table must map its names onto exactly that range. (Which
// name has which id is checked through the real binary by conformance/contract and by the
// Proxy-Wasm property diffs against V8 in conformance/wasm.)
func TestAttributeIDsContiguous(t *testing.T) {
	seen := map[int]string{}
	for name, id := range attributeIDs {
		if other, dup := seen[id]; dup {
			t.Errorf("id %d is both %q and %q", id, name, other)
		}
		seen[id] = name
	}
	for i := range len(attributeIDs) {
		if _, ok := seen[i]; !ok {
			t.Errorf("no attribute has id %d (ids must be 0..%d)", i, len(attributeIDs)-1)
		}
	}
	for name := range attributeTypes {
		if _, ok := attributeIDs[name]; !ok {
			t.Errorf("attributeTypes names %q, which has no id", name)
		}
	}
}

func TestStatusMapping(t *testing.T) {
	// Envoy's enums: headers Continue=0, StopIteration=1; body Continue=0,
	// StopIterationAndBuffer=1, StopIterationNoBuffer=3.
	cases := []struct {
		st              int
		headers, bodyst int
	}{{0, 0, 0}, {1, 1, 3}, {2, 1, 1}, {3, 1, 3}}
	for _, c := range cases {
		st := statusOf(c.st)
		if got := int(headersStatus(st)); got != c.headers {
			t.Errorf("headersStatus(%v) = %d, want %d", st, got, c.headers)
		}
		if got := int(bodyStatus(st)); got != c.bodyst {
			t.Errorf("bodyStatus(%v) = %d, want %d", st, got, c.bodyst)
		}
	}
}

func statusOf(i int) core.Status { return core.Status(i) }
