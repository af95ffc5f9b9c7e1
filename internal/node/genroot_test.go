package node_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// Root generation is audited like every other request and logged with the
// new token's accessor (issue 10 item 26). Regression: before the fix the
// audit log held no entry for sys/generate-root/*.
func TestGenerateRootIsAudited(t *testing.T) {
	n := nodetest.StartWith(t, nodetest.Options{Shares: 3, Threshold: 2})
	c := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	logPath := filepath.Join(t.TempDir(), "audit.log") // in-memory test nodes allow the temp dir
	enableFileAudit(t, c, logPath)
	st, err := c.Sys().GenerateRootInit("", "")
	if err != nil {
		t.Fatal(err)
	}
	otp := st.OTP
	for _, s := range n.Shares[:2] {
		if st, err = c.Sys().GenerateRootUpdate(hexOf(s), st.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	if !st.Complete {
		t.Fatalf("generation not complete: %+v", st)
	}
	tok, err := decodeRoot(st.EncodedToken, otp)
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"path":"sys/generate-root/attempt"`, `"path":"sys/generate-root/update"`} {
		if n := bytes.Count(log, []byte(want)); n < 2 {
			t.Errorf("audit log has %d entries with %s, want a request and a response", n, want)
		}
	}
	for name, secret := range map[string]string{"share": hexOf(n.Shares[0]), "otp": otp, "root token": tok,
		"encoded token": st.EncodedToken, "share b64": base64.StdEncoding.EncodeToString(n.Shares[1])} {
		if bytes.Contains(log, []byte(secret)) {
			t.Errorf("audit log holds the %s in clear", name)
		}
	}
	if !bytes.Contains(n.Logs.Bytes(), []byte("root token generated")) {
		t.Errorf("server log does not record the root generation")
	}
}

// On an uninitialized server the root generation endpoints answer 400, not
// 500, and log no error (issue 10 item 12). Regression: before the fix GET
// sys/generate-root/attempt answered 500 and logged an ERROR.
func TestGenerateRootUninitialized(t *testing.T) {
	n := nodetest.StartWith(t, nodetest.Options{Uninitialized: true})
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "sys/generate-root/attempt", nil},
		{"PUT", "sys/generate-root/attempt", map[string]any{}},
		{"PUT", "sys/generate-root/update", map[string]any{"key": "00", "nonce": "x"}},
		{"DELETE", "sys/generate-root/attempt", nil},
	} {
		status, body := do(t, tc.method, n.URL+"/v1/"+tc.path, "", tc.body)
		if status >= 500 && status != http.StatusServiceUnavailable {
			t.Errorf("%s %s = %d %s, want 400 or 503", tc.method, tc.path, status, body)
		}
	}
	if bytes.Contains(n.Logs.Bytes(), []byte(`"level":"ERROR"`)) {
		t.Errorf("server logged an error:\n%s", n.Logs.Bytes())
	}
}
