package cli_test

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// TestRunScripts runs testdata/run/*.txt (keyward run, env and mask), each
// against a fresh in-memory server with KV version 2 at secret/, with real
// child processes. KEYWARD_ADDR and KEYWARD_TOKEN (root) point at it, HOME
// and TMPDIR are private, and $SHM is a private directory scripts pass as
// the secrets root where they want to look at it.
func TestRunScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/run",
		UpdateScripts: *update,
		Setup: func(e *testscript.Env) error {
			tb, ok := e.T().(testing.TB)
			if !ok {
				return errors.New("testscript.T is not a testing.TB")
			}
			n := nodetest.Start(tb)
			e.Defer(func() { n.Close() })
			e.Setenv("KEYWARD_ADDR", n.URL)
			e.Setenv("KEYWARD_TOKEN", n.RootToken.Reveal())
			e.Setenv("CI", "")
			e.Setenv("FAULT_ADDR", faultProxy(tb, n.URL))
			home := filepath.Join(e.WorkDir, ".home")
			if err := os.MkdirAll(home, 0o700); err != nil {
				return err
			}
			e.Setenv("HOME", home)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitis":   cmdExitIs,
			"waitfile": cmdWaitFile,
			"sigpid":   cmdSigPID,
			"envfile":  cmdEnvFile,
			"noleak":   cmdNoLeak,
		},
	})
}

// faultProxy starts a proxy to the server at target that answers 500 for
// every path containing "boom", the way a failing backend would, and
// returns its address.
func faultProxy(tb testing.TB, target string) string {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "boom") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"errors":["internal error"]}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// exitis N CMD [ARGS...] runs CMD (a program, or keyward) and checks that
// it exits with code N; its stdout and stderr are then available to the
// stdout and stderr commands.
func cmdExitIs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitis N CMD [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitis: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", strings.Join(args[1:], " "), got, want)
	}
}

// waitfile FILE waits (up to 30 s) until FILE exists and is not empty,
// so a script can synchronise with a background child.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	p := ts.MkAbs(args[0])
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, err := os.Stat(p); err == nil && st.Size() > 0 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfile: %s did not appear", args[0])
		}
		time.Sleep(10 * time.Millisecond) // polling, not a timing assertion
	}
}

// sigpid SIGNAL [-]FILE sends SIGNAL (TERM, INT, KILL) to the pid written
// in FILE, or with -FILE to its process group.
func cmdSigPID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sigpid SIGNAL FILE")
	}
	sig, ok := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL}[args[0]]
	if !ok {
		ts.Fatalf("sigpid: unknown signal %s", args[0])
	}
	file, group := strings.CutPrefix(args[1], "-")
	raw, err := os.ReadFile(ts.MkAbs(file))
	ts.Check(err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	ts.Check(err)
	if group {
		pid = -pid
	}
	ts.Check(syscall.Kill(pid, sig))
}

// noleak OUTPUT VALUES checks that no line of the file VALUES (each a
// secret or a line of one), nor its base64 or hex form, appears in the file
// OUTPUT.
func cmdNoLeak(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: noleak OUTPUT VALUES")
	}
	out, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	vals, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	for i, v := range strings.Split(strings.TrimRight(string(vals), "\n"), "\n") {
		for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v)), hex.EncodeToString([]byte(v)), strings.ToUpper(hex.EncodeToString([]byte(v)))} {
			if len(form) >= 6 && strings.Contains(string(out), form) {
				ts.Fatalf("%s: value on line %d of %s (or a form of it) leaked", args[0], i+1, args[1])
			}
		}
	}
}

// envfile NAME FILE sets $NAME to FILE's first line.
func cmdEnvFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envfile NAME FILE")
	}
	raw, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	line, _, _ := strings.Cut(string(raw), "\n")
	ts.Setenv(args[0], strings.TrimSpace(line))
}
