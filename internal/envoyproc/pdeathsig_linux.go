package envoyproc

import "syscall"

// dieWithParent makes the kernel kill Envoy when its parent dies (even by SIGKILL), so that a
// crashed `trafficext run` or test leaves no Envoy holding its ports.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
