// Package memlock locks a process's memory into RAM, so the kernel never
// writes the secrets it holds to swap.
package memlock

import "errors"

// ErrUnsupported is returned by Lock where the platform has no mlockall.
var ErrUnsupported = errors.New("memlock: not supported on this platform")

// Hint says how to grant what Lock needs; callers print it beside a
// failed Lock's error.
const Hint = "grant CAP_IPC_LOCK (systemd: AmbientCapabilities=CAP_IPC_LOCK and LimitMEMLOCK=infinity; " +
	"docker: --cap-add=IPC_LOCK --ulimit memlock=-1), or set disable_mlock = true where swap is off or encrypted"

// Lock locks every page the process maps now and will map later
// (mlockall(MCL_CURRENT|MCL_FUTURE)). It fails without CAP_IPC_LOCK unless
// RLIMIT_MEMLOCK covers the whole process, which the default 8 MiB never
// does. Not undone; calling it again is harmless.
func Lock() error { return lock() }
