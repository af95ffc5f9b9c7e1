package cli_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/testsvc"
)

// scriptServer says how serverSetup prepares each script's server.
type scriptServer struct {
	// node are the options every initialized server starts with.
	node nodetest.Options
	// uninit is the name prefix of scripts whose server is left
	// uninitialized (no token, no shares); "" for none.
	uninit string
	// noToken leaves KEYWARD_TOKEN unset, so scripts log in themselves
	// ($ROOT_TOKEN still holds the root token).
	noToken bool
	// postgres tells which scripts (by name) need the test PostgreSQL:
	// they are skipped when it is unreachable, get $PREFIX to start every
	// database user name they create, and such users are dropped at the
	// end. Nil for none.
	postgres func(name string) bool
	// env are extra variables for every script.
	env map[string]string
	// extra runs last, for setup only some tests need.
	extra func(e *testscript.Env, tb testing.TB, n *nodetest.Node) error
}

// serverSetup returns a testscript Setup that starts a fresh in-memory
// server per script and points the CLI at it: KEYWARD_ADDR,
// SERVER_HOSTPORT (its host:port), KEYWARD_TOKEN and ROOT_TOKEN (root),
// UNSEAL_KEY_1... (hex shares) and a private HOME for the token file.
func serverSetup(o scriptServer) func(*testscript.Env) error {
	return func(e *testscript.Env) error {
		tb, ok := e.T().(testing.TB)
		if !ok {
			return errors.New("testscript.T is not a testing.TB")
		}
		name := strings.TrimPrefix(filepath.Base(e.WorkDir), "script-")
		if o.postgres != nil && o.postgres(name) {
			e.Setenv("PREFIX", pgPrefix(tb))
		}
		opts := o.node
		uninit := o.uninit != "" && strings.HasPrefix(name, o.uninit)
		if uninit {
			opts = nodetest.Options{Uninitialized: true}
		}
		n := nodetest.StartWith(tb, opts)
		e.Defer(func() { n.Close() })
		e.Setenv("KEYWARD_ADDR", n.URL)
		e.Setenv("SERVER_HOSTPORT", strings.TrimPrefix(n.URL, "http://"))
		if !uninit {
			e.Setenv("ROOT_TOKEN", n.RootToken.Reveal())
			if !o.noToken {
				e.Setenv("KEYWARD_TOKEN", n.RootToken.Reveal())
			}
			for i, s := range n.Shares {
				e.Setenv(fmt.Sprintf("UNSEAL_KEY_%d", i+1), hex.EncodeToString(s))
			}
		}
		home := filepath.Join(e.WorkDir, ".home")
		if err := os.MkdirAll(home, 0o700); err != nil {
			return err
		}
		e.Setenv("HOME", home)
		for k, v := range o.env {
			e.Setenv(k, v)
		}
		if o.extra != nil {
			return o.extra(e, tb, n)
		}
		return nil
	}
}

// pgPrefix ends the test as testsvc.Unavailable does when the test
// PostgreSQL is unreachable; otherwise it returns a fresh user name prefix
// whose users are dropped at cleanup.
func pgPrefix(tb testing.TB) string {
	tb.Helper()
	admin := testsvc.Postgres(tb)
	prefix := "kwt" + strings.ToLower(rand.Text()[:6])
	testsvc.DropPostgresRoles(tb, admin, prefix)
	return prefix
}

// scriptCmds returns the commands every script set has, plus extra.
func scriptCmds(extra map[string]func(ts *testscript.TestScript, neg bool, args []string)) map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	cmds := map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"filemode":   cmdFileMode,
		"setenvfile": cmdSetenvFile,
		"envfile":    cmdEnvFile,
		"writeenv":   cmdWriteEnv,
		"setenvjson": cmdSetenvJSON,
		"exitcode":   cmdExitCode,
		"exitis":     cmdExitCode,
		"waitfile":   cmdWaitFile,
		"unbase64":   cmdUnbase64,
	}
	for k, v := range extra {
		cmds[k] = v
	}
	return cmds
}

// filemode PATH MODE checks a file's permission bits (octal, e.g. 600).
func cmdFileMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: filemode PATH MODE")
	}
	st, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	mode := fmt.Sprintf("%o", st.Mode().Perm())
	if (mode == args[1]) == neg {
		ts.Fatalf("%s has mode %s, want %s%s", args[0], mode, map[bool]string{true: "not ", false: ""}[neg], args[1])
	}
}

// setenvfile NAME FILE sets $NAME to FILE's content with surrounding space
// trimmed, so scripts can pass a value printed by one command to the next.
func cmdSetenvFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setenvfile NAME FILE")
	}
	raw, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	ts.Setenv(args[0], strings.TrimSpace(string(raw)))
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

// writeenv FILE NAME writes $NAME and a newline to FILE, so values known only
// at run time can be fed to a command's stdin.
func cmdWriteEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: writeenv FILE NAME")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(ts.Getenv(args[1])+"\n"), 0o600))
}

// setenvjson NAME FILE PATH sets $NAME to the string at PATH (dot-separated
// keys and list indexes, e.g. unseal_keys_b64.0) in the JSON in FILE.
func cmdSetenvJSON(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: setenvjson NAME FILE PATH")
	}
	raw, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	var v any
	ts.Check(json.Unmarshal(raw, &v))
	for _, k := range strings.Split(args[2], ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				ts.Fatalf("setenvjson: no index %s in %s", k, args[2])
			}
			v = x[i]
		default:
			ts.Fatalf("setenvjson: cannot descend into %s at %s", args[2], k)
		}
	}
	str, ok := v.(string)
	if !ok {
		ts.Fatalf("setenvjson: %s is %T, not a string", args[2], v)
	}
	ts.Setenv(args[0], str)
}

// exitcode N CMD [ARGS...] (also exitis) runs CMD (a program, or keyward)
// and checks that it exits with code N; its stdout and stderr are then
// available to the stdout and stderr commands.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N CMD [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", strings.Join(args[1:], " "), got, want)
	}
}

// unbase64 IN OUT decodes the base64 text in IN (surrounding space
// ignored) into OUT, so a script can hold binary data.
func cmdUnbase64(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: unbase64 IN OUT")
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ts.ReadFile(args[0])))
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o600))
}

// waitfile FILE waits (up to clocktest.Wait) until FILE exists and is not
// empty, so a script can synchronise with a background child.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	p := ts.MkAbs(args[0])
	deadline := time.Now().Add(clocktest.Wait)
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
