package cli_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestAuthScripts runs testdata/auth/*.txt (AppRole, response wrapping,
// userpass) against a fresh unsealed in-memory server each (see
// serverSetup).
func TestAuthScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/auth",
		UpdateScripts: *update,
		Setup:         serverSetup(scriptServer{}),
		Cmds:          scriptCmds(map[string]func(ts *testscript.TestScript, neg bool, args []string){"wrapwrite": cmdWrapWrite}),
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
