//go:build conformance

package hardening

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trafficext/trafficext/internal/envoyproc"
)

// kill -9 of `trafficext run` must not leave its Envoy serving without a control plane: the
// next run on the same ports starts cleanly. While the first run lives, a second one is
// refused with the port and the pid that holds it.
func TestKill9_LeavesNoEnvoy(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "mark.yaml"), luaExtension("mark", "x-mark", "first"))
	p := freePorts(t)

	first := startRun(t, p, dir)
	first.waitHeader(t, "x-mark", "first", 60*time.Second)
	envoys := envoyChildren(first.cmd.Process.Pid)
	if len(envoys) != 1 {
		t.Fatalf("envoy children of run (pid %d) = %v, want one", first.cmd.Process.Pid, envoys)
	}

	// A second run on the same ports says which port is taken, and by whom.
	second := startRun(t, p, dir)
	select {
	case <-second.done:
	case <-time.After(30 * time.Second):
		t.Fatal("a second run on held ports did not exit")
	}
	if code := second.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("second run exit code = %d, want 1", code)
	}
	msg := second.out.String()
	for _, want := range []string{
		p.listen + " is in use (an Envoy left by a previous run? pid " + fmt.Sprint(envoys[0]),
		fmt.Sprintf("127.0.0.1:%d is in use (an Envoy", p.admin),
		p.xds + " is in use (is another trafficext running? pid " + fmt.Sprint(first.cmd.Process.Pid),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("second run output lacks %q:\n%s", want, msg)
		}
	}

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	deadline := time.Now().Add(5 * time.Second)
	for !gone(envoys[0]) {
		if time.Now().After(deadline) {
			t.Fatalf("envoy pid %d still running 5s after kill -9 of its run", envoys[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	var err error
	for deadline = time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = envoyproc.CheckPorts(p.all()...); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("ports still held 5s after kill -9: %v", err)
	}

	writeFile(t, filepath.Join(dir, "mark.yaml"), luaExtension("mark", "x-mark", "second"))
	third := startRun(t, p, dir)
	third.waitHeader(t, "x-mark", "second", 60*time.Second)
}
