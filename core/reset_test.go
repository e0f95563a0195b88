package core

import (
	"testing"

	"github.com/trafficext/trafficext/extconfig"
)

// resettingStream is a fakeStream whose host can reset.
type resettingStream struct {
	*fakeStream
	resets []string
}

func (s *resettingStream) ResetStream(d string) bool { s.resets = append(s.resets, d); return true }

// TestHandler_ResetStream: the engine's stream forwards a reset to a host that can reset (and
// the fail strategy then sends no reply over it), and reports false on a host that cannot.
func TestHandler_ResetStream(t *testing.T) {
	for _, tt := range []struct {
		name      string
		canReset  bool
		wantReset bool
	}{{"host resets", true, true}, {"host cannot reset", false, false}} {
		t.Run(tt.name, func(t *testing.T) {
			var got bool
			eng := &scriptedEngine{filter: func(s Stream) Filter {
				return funcFilter{onReq: func() Status {
					got = s.(StreamResetter).ResetStream("closed")
					panic("after the reset")
				}}
			}}
			c, h := config(t, NewRuntime([]Engine{eng}), luaExt(extconfig.FailClose))
			fs := newStream(h, nil)
			var s Stream = fs
			rs := &resettingStream{fakeStream: fs}
			if tt.canReset {
				s = rs
			}
			c.NewStream(s).RequestHeaders(false)
			if got != tt.wantReset {
				t.Fatalf("ResetStream = %v, want %v", got, tt.wantReset)
			}
			if tt.wantReset && (len(rs.resets) != 1 || rs.resets[0] != "closed") {
				t.Errorf("resets = %v", rs.resets)
			}
			// Fail-close after a reset sends nothing more; without one it answers 500.
			if (fs.reply != nil) == tt.wantReset {
				t.Errorf("reply = %+v after reset=%v", fs.reply, tt.wantReset)
			}
		})
	}
}
