package testsvc_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/testsvc"
)

// With the variable set an unreachable service fails the test; without it,
// the test is skipped. Checked in a child process so the failure is its own.
func TestUnavailable(t *testing.T) {
	if os.Getenv("TESTSVC_CHILD") != "" {
		testsvc.Unavailable(t, "PostgreSQL on 127.0.0.1:5432", errors.New("connection refused"))
		return
	}
	for _, tc := range []struct {
		require string
		fail    bool
		want    string
	}{{"1", true, "--- FAIL"}, {"", false, "--- SKIP"}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUnavailable$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTSVC_CHILD=1", testsvc.RequireEnv+"="+tc.require)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.fail || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s=%q: err %v, output:\n%s", testsvc.RequireEnv, tc.require, err, out)
		}
	}
}
