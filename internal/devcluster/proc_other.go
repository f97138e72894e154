//go:build !unix

package devcluster

import (
	"context"
	"errors"
	"syscall"
)

// errUnsupported is returned where process groups and file locks, which the
// local control plane relies on, are not available.
var errUnsupported = errors.New("the local control plane needs a Unix-like operating system")

func sysProcAttr(bool) *syscall.SysProcAttr { return nil }

func signalGroup(int, syscall.Signal) error { return errUnsupported }

func processAlive(int) bool { return false }

func groupAlive(int) bool { return false }

func lockFile(context.Context, string, func()) (func(), error) { return nil, errUnsupported }
