package inject

import (
	"fmt"
)

// ProtectProcess keeps the calling process's memory from the processes it
// starts and from core files. It sets the soft RLIMIT_CORE to 0 and, on
// Linux, clears the dumpable flag (PR_SET_DUMPABLE 0). A job runs with
// keyward's uid, and a dumpable process of the same uid is open to it:
// /proc/PID/environ holds the initial environment (the job token, which no
// Unsetenv removes from there), /proc/PID/mem everything keyward fetched.
// Non-dumpable, those files are readable only with CAP_SYS_PTRACE, so the
// protection holds against the job, not against root.
//
// Call it before the process holds a secret it did not start with, and
// before it starts any child. Neither setting is undone; both are
// idempotent. The core limit is a soft one, so a child may raise its own.
func ProtectProcess() error {
	if err := limitCore(); err != nil {
		return fmt.Errorf("inject: disable core dumps: %w", err)
	}
	if err := nonDumpable(); err != nil {
		return fmt.Errorf("inject: make the process non-dumpable: %w", err)
	}
	return nil
}
