//go:build !windows

package inject_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/inject"
)

// gateOpts runs the command through this test binary as its gate, with a
// guard that only reads its input (TestGuard tests the guard itself).
func gateOpts(out *clocktest.Buffer) inject.Options {
	return inject.Options{
		Stdout:  out,
		Stderr:  out,
		BaseEnv: append(os.Environ(), helperEnv+"=gate"),
		Guard:   []string{"sh", "-c", "cat > /dev/null"},
		Gate:    []string{os.Args[0], "-test.run=^TestHelperProcess$"},
	}
}

// TestRunGate: through the gate, the command gets its arguments as given
// (flags included), its output and its exit code reach Run, and it leads
// its own process group.
func TestRunGate(t *testing.T) {
	var out clocktest.Buffer
	code, err := inject.Run(t.Context(), []string{"sh", "-c", `echo "$1 $(ps -o pgid= -p $$ | tr -d ' ') $$"; exit 7`, "sh", "-x"}, inject.Spec{}, gateOpts(&out))
	if err != nil || code != 7 {
		t.Fatalf("Run = %d, %v, want 7, nil; output %q", code, err, out.String())
	}
	var arg string
	var pgid, pid int
	if _, err := fmt.Sscan(out.String(), &arg, &pgid, &pid); err != nil || arg != "-x" || pgid != pid {
		t.Errorf("command printed %q, want its argument -x and its pid as its process group", out.String())
	}
}

// TestRunGateExecError: an exec the gate cannot do is Run's start error,
// with the errno, as a direct start reports it.
func TestRunGateExecError(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "job.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out clocktest.Buffer
	code, err := inject.Run(t.Context(), []string{notExec}, inject.Spec{}, gateOpts(&out))
	if code != -1 || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Run(%s) = %d, %v, want -1 and a permission error; output %q", notExec, code, err, out.String())
	}
	code, err = inject.Run(t.Context(), []string{filepath.Join(t.TempDir(), "none")}, inject.Spec{}, gateOpts(&out))
	if code != -1 || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Run(missing) = %d, %v, want -1 and a not-exist error", code, err)
	}
}

// TestGateWithoutGo: a gate whose keyward ends before letting it go (died
// before the guard heard of the group) runs nothing.
func TestGateWithoutGo(t *testing.T) {
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	goR, goW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer statusR.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "--", "/bin/sh", "sh", "-c", "echo > "+ran)
	cmd.Env = append(os.Environ(), helperEnv+"=gate")
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{goR, statusW}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	goR.Close()
	statusW.Close()
	goW.WriteString("g") // keyward died mid-word
	goW.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("gate: %v", err)
	}
	if _, err := os.Stat(ran); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the gate ran the command without the go-ahead (stat: %v)", err)
	}
}
