//go:build !linux && !windows

package inject

import "syscall"

// nonDumpable does nothing where there is no PR_SET_DUMPABLE: there the
// core limit is the only protection (see ProtectProcess).
func nonDumpable() error { return nil }

// dieWithParent does nothing where there is no PR_SET_PDEATHSIG; the guard
// process (Options.Guard) is then what stops the child after a kill -9.
func dieWithParent(*syscall.SysProcAttr) {}
