//go:build linux

package inject

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// nonDumpable clears the process's dumpable flag: the kernel then makes its
// /proc/PID files (environ, mem, maps, fd...) readable only with
// CAP_SYS_PTRACE, refuses ptrace attach from other processes of the same
// uid, and writes no core dump. A child gets the flag back when it execs.
func nonDumpable() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }

// dieWithParent makes the kernel SIGKILL the child when the thread that
// started it ends (Run keeps that thread for as long as the child runs).
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
