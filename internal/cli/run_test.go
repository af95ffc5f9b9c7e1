package cli_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// TestRunScripts runs testdata/run/*.txt (keyward run, env and mask), each
// against a fresh in-memory server with KV version 2 at secret/ (see
// serverSetup), with real child processes. CI is empty, $FAULT_ADDR is a
// proxy to the server that fails every path containing "boom", and scripts
// named dynamic* use the real PostgreSQL (skipped when it is unreachable).
func TestRunScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/run",
		UpdateScripts: *update,
		Setup: serverSetup(scriptServer{
			env:      map[string]string{"CI": ""},
			postgres: func(name string) bool { return strings.HasPrefix(name, "dynamic") },
			extra: func(e *testscript.Env, tb testing.TB, n *nodetest.Node) error {
				e.Setenv("FAULT_ADDR", faultProxy(tb, n.URL))
				return nil
			},
		}),
		Cmds: scriptCmds(map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"sigpid":       cmdSigPID,
			"noleak":       cmdNoLeak,
			"leaserenewed": cmdLeaseRenewed,
		}),
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

// sigpid SIGNAL [-]FILE sends SIGNAL (TERM, INT, HUP, KILL) to the pid written
// in FILE, or with -FILE to its process group.
func cmdSigPID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sigpid SIGNAL FILE")
	}
	sig, ok := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP, "KILL": syscall.SIGKILL}[args[0]]
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

// leaserenewed FILE TTL checks that FILE, the JSON of `keyward lease
// lookup -format=json`, shows a lease the server renewed: last_renewal is
// set and expire_time is past issue_time plus TTL, the lease's first TTL.
// Both times are the server's, so no clock of the test is involved.
func cmdLeaseRenewed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: leaserenewed FILE TTL")
	}
	ttl, err := time.ParseDuration(args[1])
	ts.Check(err)
	raw, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	var out struct {
		Data struct {
			IssueTime   time.Time  `json:"issue_time"`
			ExpireTime  time.Time  `json:"expire_time"`
			LastRenewal *time.Time `json:"last_renewal"`
		} `json:"data"`
	}
	ts.Check(json.Unmarshal(raw, &out))
	d := out.Data
	if d.LastRenewal == nil || !d.LastRenewal.After(d.IssueTime) {
		ts.Fatalf("lease not renewed: issued %v, last renewal %v", d.IssueTime, d.LastRenewal)
	}
	if !d.ExpireTime.After(d.IssueTime.Add(ttl)) {
		ts.Fatalf("lease expiry did not move: issued %v, expires %v, first TTL %v", d.IssueTime, d.ExpireTime, ttl)
	}
}
