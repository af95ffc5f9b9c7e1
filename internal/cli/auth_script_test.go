package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// TestAuthScripts runs testdata/auth/*.txt (AppRole, response wrapping,
// userpass) against a fresh unsealed in-memory server each, with the root
// token in KEYWARD_TOKEN and a private HOME.
func TestAuthScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/auth",
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
			home := filepath.Join(e.WorkDir, ".home")
			if err := os.MkdirAll(home, 0o700); err != nil {
				return err
			}
			e.Setenv("HOME", home)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"setenvfile": cmdSetenvFile,
			"wrapwrite":  cmdWrapWrite,
		},
	})
}

// cmdWrapWrite: wrapwrite TTL PATH OUTFILE [KEY=VALUE...] writes PATH with
// X-Vault-Wrap-TTL: TTL as $KEYWARD_TOKEN and saves the wrapping token in
// OUTFILE (the CLI has no wrap flag of its own yet).
func cmdWrapWrite(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: wrapwrite TTL PATH OUTFILE [KEY=VALUE...]")
	}
	body := map[string]any{}
	for _, kv := range args[3:] {
		k, v, _ := strings.Cut(kv, "=")
		body[k] = v
	}
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", ts.Getenv("KEYWARD_ADDR")+"/v1/"+args[1], bytes.NewReader(raw))
	ts.Check(err)
	req.Header.Set("X-Vault-Token", ts.Getenv("KEYWARD_TOKEN"))
	req.Header.Set("X-Vault-Wrap-TTL", args[0])
	resp, err := http.DefaultClient.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	var out struct {
		WrapInfo struct {
			Token string `json:"token"`
		} `json:"wrap_info"`
	}
	ts.Check(json.NewDecoder(resp.Body).Decode(&out))
	if resp.StatusCode != 200 || out.WrapInfo.Token == "" {
		ts.Fatalf("wrapwrite %s: status %d, no wrap_info", args[1], resp.StatusCode)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), []byte(out.WrapInfo.Token+"\n"), 0o600))
}
