package envoyproc

import (
	"os"
	"testing"
)

func TestRSS(t *testing.T) {
	n, err := RSS(os.Getpid())
	if err != nil {
		t.Skip(err) // no /proc
	}
	if n < 1<<20 {
		t.Errorf("RSS of the test process = %d bytes, want at least 1 MiB", n)
	}
	if _, err := RSS(-1); err == nil {
		t.Error("RSS of pid -1 did not fail")
	}
}
