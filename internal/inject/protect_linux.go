//go:build linux

package inject

import "golang.org/x/sys/unix"

// nonDumpable clears the process's dumpable flag: the kernel then makes its
// /proc/PID files (environ, mem, maps, fd...) readable only with
// CAP_SYS_PTRACE, refuses ptrace attach from other processes of the same
// uid, and writes no core dump. A child gets the flag back when it execs.
func nonDumpable() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }
