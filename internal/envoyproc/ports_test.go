package envoyproc

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestCheckPorts(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()

	if err := CheckPorts(freeAddr); err != nil {
		t.Errorf("free port: %v", err)
	}
	err = CheckPorts(freeAddr, held.Addr().String())
	if err == nil {
		t.Fatal("a held port was reported free")
	}
	want := held.Addr().String() + " is in use"
	if runtime.GOOS == "linux" { // the holder is found through /proc
		want += fmt.Sprintf(" by pid %d", os.Getpid())
	}
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), freeAddr) {
		t.Errorf("error = %q, want it to contain %q and not name %s", err, want, freeAddr)
	}
}
