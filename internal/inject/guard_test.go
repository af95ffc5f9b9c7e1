//go:build !windows

package inject_test

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/inject"
)

// helperEnv selects what TestHelperProcess does when this test binary is
// started as a helper: "guard" runs inject.Guard on stdin, "gate" runs
// inject.ExecGate on the arguments after "--", "run" runs
// inject.Run with a child that prints its pid and sleeps.
const helperEnv = "INJECT_TEST_HELPER"

// TestHelperProcess is not a test: it is the body of the helper processes
// the tests below start (the os/exec tests' pattern), so that what should
// happen when a process dies can happen to a process other than the test.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "":
		return
	case "guard":
		if err := inject.Guard(os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "gate":
		if err := inject.ExecGate(flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "run":
		code, err := inject.Run(t.Context(), []string{"sh", "-c", "echo $$; exec sleep 1000"}, inject.Spec{}, inject.Options{Stdout: os.Stdout})
		fmt.Fprintln(os.Stderr, "Run returned", code, err)
	}
	os.Exit(0)
}

// helper starts this test binary as a helper process doing what.
func helper(t *testing.T, what string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+what)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, in, bufio.NewReader(out)
}

// readPID reads one line holding a pid.
func readPID(t *testing.T, r *bufio.Reader) int {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

// gone reports whether pid has exited (a zombie has: it holds no memory).
func gone(pid int) bool {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) != nil
	}
	i := bytes.LastIndexByte(raw, ')') // pid (comm) STATE ...
	return i < 0 || i+2 >= len(raw) || raw[i+2] == 'Z' || raw[i+2] == 'X'
}

// TestGuard: the guard kills the process group it was told about when its
// input ends without "done" (keyward died), and leaves it alone otherwise.
func TestGuard(t *testing.T) {
	tests := []struct {
		name string
		send string // after the pgid line; then the input is closed
		kill bool
	}{
		{"keyward died", "", true},
		{"keyward died mid-message", "do", true},
		{"keyward ended normally", "done\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The group: sh (its leader) and a background sleep.
			grp := exec.Command("sh", "-c", "sleep 1000 & echo $!; wait")
			grp.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			out, err := grp.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := grp.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { syscall.Kill(-grp.Process.Pid, syscall.SIGKILL); grp.Wait() })
			bg := readPID(t, bufio.NewReader(out))

			g, in, _ := helper(t, "guard")
			fmt.Fprintf(in, "%d\n%s", grp.Process.Pid, tt.send)
			in.Close()
			if err := g.Wait(); err != nil {
				t.Fatalf("guard: %v", err)
			}
			if !tt.kill {
				if gone(grp.Process.Pid) || gone(bg) {
					t.Fatal("guard killed the group although keyward ended normally")
				}
				return
			}
			err = grp.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("group leader ended with %v, want SIGKILL", err)
			}
			clocktest.Eventually(t, "background process of the group gone", func() bool { return gone(bg) })
		})
	}
}

// TestGuardBeforeChild: a guard whose keyward ended before the child
// started kills nothing and exits cleanly.
func TestGuardBeforeChild(t *testing.T) {
	for _, send := range []string{"", "done\n"} {
		g, in, _ := helper(t, "guard")
		io.WriteString(in, send)
		in.Close()
		if err := g.Wait(); err != nil {
			t.Fatalf("guard with input %q: %v", send, err)
		}
	}
}
