package memlock_test

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/memlock"
)

// TestMain re-executes the test binary as a process that calls Lock and
// prints its own VmLck, so the test process itself never locks its memory.
func TestMain(m *testing.M) {
	if os.Getenv("MEMLOCK_HELPER") == "1" {
		if err := memlock.Lock(); err != nil {
			os.Stdout.WriteString("error: " + err.Error() + "\n")
		}
		b, _ := os.ReadFile("/proc/self/status")
		os.Stdout.Write(b)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var vmLck = regexp.MustCompile(`(?m)^VmLck:\s+(\d+) kB`)

func helper(t *testing.T, wrap ...string) (string, int) {
	t.Helper()
	args := append(wrap, os.Args[0])
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "MEMLOCK_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	m := vmLck.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no VmLck in\n%s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return string(out), n
}

// TestLock: with CAP_IPC_LOCK (the tests run as root) every mapping is
// locked; without it, and with the default small RLIMIT_MEMLOCK, Lock fails
// with an error naming mlockall and nothing is locked.
func TestLock(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("locking a whole process needs CAP_IPC_LOCK: run as root")
	}
	out, n := helper(t)
	if strings.Contains(out, "error:") || n == 0 {
		t.Fatalf("Lock as root: VmLck %d kB\n%s", n, out)
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv to drop CAP_IPC_LOCK")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("no prlimit")
	}
	out, n = helper(t, prlimit, "--memlock=65536:65536", setpriv, "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", "--")
	if !strings.Contains(out, "error: memlock: mlockall:") || n != 0 {
		t.Fatalf("Lock without CAP_IPC_LOCK: VmLck %d kB, want an error and 0\n%s", n, out)
	}
}
