package inject_test

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/inject"
)

// TestRunProtectsProcess: Run leaves keyward non-dumpable with no core
// limit before the child starts, and the child, which exec made dumpable
// again, still has no core limit.
func TestRunProtectsProcess(t *testing.T) {
	code, out, err := runSh(t, `ulimit -c; grep '^CapEff' /proc/$$/status >/dev/null && echo status-readable`, inject.Spec{}, inject.Options{})
	if err != nil || code != 0 || out != "0\nstatus-readable\n" {
		t.Fatalf("Run() = %d, %v; child printed %q", code, err, out)
	}
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil || d != 0 {
		t.Fatalf("PR_GET_DUMPABLE = %d, %v after Run, want 0", d, err)
	}
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &l); err != nil || l.Cur != 0 {
		t.Fatalf("RLIMIT_CORE = %+v, %v after Run, want soft 0", l, err)
	}
	if err := inject.ProtectProcess(); err != nil {
		t.Fatalf("ProtectProcess() again = %v, want nil (idempotent)", err)
	}
}

// TestChildKilledWithKeyward: when the process running Run is killed with
// SIGKILL, and so cannot stop the child itself, the kernel kills the child
// (PR_SET_PDEATHSIG), even with no guard process.
func TestChildKilledWithKeyward(t *testing.T) {
	h, _, out := helper(t, "run")
	pid := readPID(t, out)
	if err := h.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	h.Wait()
	clocktest.Eventually(t, "child gone after kill -9 of the process running it", func() bool { return gone(pid) })
}
