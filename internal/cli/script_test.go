package cli_test

import (
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

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// TestScript runs testdata/script/*.txt, each against a fresh in-memory
// server: initialized and unsealed with KV version 2 at secret/, or, for
// scripts named uninit_*, uninitialized. KEYWARD_ADDR and KEYWARD_TOKEN
// point at it ($SERVER_HOSTPORT is its host:port, $UNSEAL_KEY_1 and
// $UNSEAL_KEY_2 two of its three shares) and HOME is a private directory,
// for the token file.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(e *testscript.Env) error {
			tb, ok := e.T().(testing.TB)
			if !ok {
				return errors.New("testscript.T is not a testing.TB")
			}
			name := strings.TrimPrefix(filepath.Base(e.WorkDir), "script-")
			var n *nodetest.Node
			if strings.HasPrefix(name, "uninit_") {
				n = nodetest.StartWith(tb, nodetest.Options{Uninitialized: true})
			} else {
				n = nodetest.StartWith(tb, nodetest.Options{Shares: 3, Threshold: 2})
				e.Setenv("KEYWARD_TOKEN", n.RootToken.Reveal())
				e.Setenv("UNSEAL_KEY_1", hexOf(n.Shares[0]))
				e.Setenv("UNSEAL_KEY_2", hexOf(n.Shares[1]))
			}
			e.Defer(func() { n.Close() })
			e.Setenv("KEYWARD_ADDR", n.URL)
			e.Setenv("SERVER_HOSTPORT", strings.TrimPrefix(n.URL, "http://"))
			home := filepath.Join(e.WorkDir, ".home")
			if err := os.MkdirAll(home, 0o700); err != nil {
				return err
			}
			e.Setenv("HOME", home)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"filemode":   cmdFileMode,
			"setenvfile": cmdSetenvFile,
			"writeenv":   cmdWriteEnv,
			"setenvjson": cmdSetenvJSON,
			"exitcode":   cmdExitCode,
		},
	})
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

func hexOf(b []byte) string { return hex.EncodeToString(b) }

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

// exitcode N CMD [ARGS...] runs CMD and checks that it exits with code N.
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
