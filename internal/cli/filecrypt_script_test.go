package cli_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// TestFilecryptScripts runs testdata/filecrypt/*.txt (keyward encrypt,
// decrypt, edit, rotate, updatekeys, run --env-file, the git textconv and
// merge driver in a real git repository), each against a fresh server;
// $AGE_KEY_FILE is a private test age identity, $AGE_RECIPIENT its
// recipient.
func TestFilecryptScripts(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is not installed: the merge driver tests need it")
	}
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/filecrypt",
		UpdateScripts: *update,
		Setup: serverSetup(scriptServer{node: nodetest.Options{}, env: map[string]string{
			"AGE_RECIPIENT":       "age1jvanty7z62urpt4lnfva23vwej5uaqu7p59sg6e68lcj5q0mt4qqkh8lq3",
			"AGE_IDENTITY":        "AGE-SECRET-KEY-1MF7AVS8NT2F28MKF0SWDXRQYM66LC7RNA092TNP4ZNYU9X0U4X8QER6YYJ",
			"OTHER_AGE_RECIPIENT": "age15ktw677k7g299f442k5rw8fqmarfq3c2agk97zjtsuxv9zvt5ydqqp6k93",
			"OTHER_AGE_IDENTITY":  "AGE-SECRET-KEY-13ERQM3A0FA2HNTHQ48V3VRR2JF7LECPW8JXXVLGXSQJ8ELQH32VQRTGDWH",
			"GIT_CONFIG_NOSYSTEM": "1",
			"GIT_AUTHOR_NAME":     "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
			"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
		}}),
		Cmds: scriptCmds(map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"noplaintext": cmdNoPlaintext,
		}),
	})
}

// noplaintext DIR VALUE... fails if any VALUE appears in a file under DIR
// (its git objects included, read through git cat-file, since they are
// compressed) or if a keyward edit that exited left its directory in
// /dev/shm.
func cmdNoPlaintext(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: noplaintext DIR VALUE...")
	}
	dir := ts.MkAbs(args[0])
	values := args[1:]
	check := func(where string, b []byte) {
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				ts.Fatalf("plaintext %q found in %s", v, where)
			}
		}
	}
	var repos []string
	ts.Check(filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			repos = append(repos, filepath.Dir(p))
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		check(p, b)
		return nil
	}))
	for _, r := range repos {
		out, err := exec.Command("git", "-C", r, "cat-file", "--batch-all-objects", "--batch").Output()
		ts.Check(err)
		check("the git objects of "+r, out)
	}
	// Scripts run in parallel: a directory of a keyward edit still running
	// is fine, one whose process has exited is a leak.
	left, err := filepath.Glob("/dev/shm/keyward-edit-*")
	ts.Check(err)
	for _, d := range left {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "keyward-edit-%d-", &pid); err == nil && syscall.Kill(pid, 0) != nil {
			ts.Fatalf("keyward edit left %s behind", d)
		}
	}
}
