//go:build unix && !linux

package devcluster

import "syscall"

// setDeathSignal does nothing where the kernel offers no parent-death
// signal; Stop still ends the children, but a killed parent leaves them
// running.
func setDeathSignal(*syscall.SysProcAttr) {}
