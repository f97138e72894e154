package devcluster

import "syscall"

// setDeathSignal makes the kernel kill the child when the parent dies, so
// that a test binary killed by a timeout or a signal leaves no control plane
// behind.
func setDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
