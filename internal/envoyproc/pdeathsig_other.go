//go:build !linux

package envoyproc

import "syscall"

// dieWithParent: only Linux has a parent-death signal; elsewhere Envoy outlives a killed parent.
func dieWithParent() *syscall.SysProcAttr { return nil }
