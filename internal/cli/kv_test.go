package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/api"
)

// TestKVPutFromFileExact checks that KEY=@FILE stores the file's bytes
// exactly (trailing newline, inner newlines, binary-ish text), read back
// with the API client rather than the CLI under test.
func TestKVPutFromFileExact(t *testing.T) {
	n := startCLI(t)
	c, err := api.New(api.Config{Address: n.URL, Token: api.NewToken(n.RootToken.Reveal())})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content string
	}{
		{"trailing newline", "s3cr3t\n"},
		{"no newline", "s3cr3t"},
		{"pem", "-----BEGIN KEY-----\nAAAA\nBBBB\n-----END KEY-----\n"},
		{"crlf and spaces", "  a b\r\n\r\n"},
		{"empty", ""},
		{"equals and at", "k=v@x"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "value")
			if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			path := "secret/file/" + string(rune('a'+i))
			out, errOut, code := keyward(t, "", "kv", "put", path, "password=@"+file)
			if code != 0 {
				t.Fatalf("kv put: exit %d: %s", code, errOut)
			}
			if tc.content != "" && strings.Contains(out+errOut, tc.content) {
				t.Errorf("kv put printed the value: %q", out+errOut)
			}
			s, err := c.Read(context.Background(), "secret/data/file/"+string(rune('a'+i)), nil)
			if err != nil || s == nil {
				t.Fatalf("read back: %v, %v", s, err)
			}
			got := s.Data["data"].(map[string]any)["password"]
			if got != tc.content {
				t.Errorf("stored %q, want %q", got, tc.content)
			}
		})
	}
}

// TestKVPutFromStdin checks KEY=- (one trailing newline dropped) and that
// neither output stream nor the server log carries the value.
func TestKVPutFromStdin(t *testing.T) {
	n := startCLI(t)
	const secret = "canary-7f3a9c1e-value"
	out, errOut, code := keyward(t, secret+"\n", "kv", "put", "secret/ci/db", "password=-")
	if code != 0 {
		t.Fatalf("kv put: exit %d: %s", code, errOut)
	}
	if strings.Contains(out, secret) || strings.Contains(errOut, secret) {
		t.Fatalf("kv put printed the value:\nstdout: %s\nstderr: %s", out, errOut)
	}
	got := mustRun(t, "", "kv", "get", "-field=password", "secret/ci/db")
	if got != secret+"\n" {
		t.Errorf("kv get -field = %q, want %q", got, secret+"\n")
	}
	if strings.Contains(string(n.Logs.Bytes()), secret) {
		t.Error("the server log contains the value")
	}
}

// TestTokenFileUsed checks that login writes the token file with mode 0600
// and that commands use it only when no token is in the environment.
func TestTokenFileUsed(t *testing.T) {
	n := startCLI(t)
	home := os.Getenv("HOME")
	tok := strings.TrimSpace(mustRun(t, "", "token", "create", "-policy=default", "-field=token"))
	t.Setenv("KEYWARD_TOKEN", "")
	if out, _, code := keyward(t, "", "secrets", "list"); code != 1 || out != "" {
		t.Fatalf("secrets list with no token: exit %d, stdout %q; want exit 1 and nothing", code, out)
	}
	out := mustRun(t, tok+"\n", "login")
	if strings.Contains(out, tok) {
		t.Fatal("login printed the token")
	}
	st, err := os.Stat(filepath.Join(home, ".keyward-token"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode = %o, want 600", st.Mode().Perm())
	}
	if got := mustRun(t, "", "token", "lookup", "-field=id"); strings.TrimSpace(got) != tok {
		t.Errorf("token lookup with the token file used another token")
	}
	// VAULT_TOKEN, the fallback, still beats the file.
	t.Setenv("VAULT_TOKEN", n.RootToken.Reveal())
	if got := mustRun(t, "", "token", "lookup", "-field=policies"); !strings.Contains(got, "root") {
		t.Errorf("VAULT_TOKEN was not used: policies %q", got)
	}
}
