package cli_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// TestCertAgentProcess runs `keyward cert agent` as a process of its own
// against a real server whose role issues 30-second certificates, with a
// token of its own that lives 30 seconds and may only issue: the agent
// writes the certificate, runs the --exec command, renews before expiry
// (at two thirds of the lifetime) and runs the command again with the new
// serial, renews its token so it outlives its first TTL, keeps the token
// out of the command's environment and its own log, and exits 0 on
// SIGTERM leaving the files in place.
func TestCertAgentProcess(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t)
	root, err := api.New(api.Config{Address: n.URL, Token: api.NewToken(n.RootToken.Reveal())})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, w := range []struct {
		path string
		data map[string]any
	}{
		{"sys/mounts/pki", map[string]any{"type": "pki"}},
		{"pki/root/generate/internal", map[string]any{"common_name": "Agent Root", "key_type": "ec", "ttl": "48h"}},
		{"pki/roles/web", map[string]any{"allowed_domains": "example.com", "allow_subdomains": true, "key_type": "ec", "ttl": "30s", "max_ttl": "1m"}},
		{"sys/policies/acl/cert-agent", map[string]any{"policy": `path "pki/issue/web" { capabilities = ["update"] }`}},
	} {
		if _, err := root.Write(ctx, w.path, w.data); err != nil {
			t.Fatalf("write %s: %v", w.path, err)
		}
	}
	sec, err := root.Write(ctx, "auth/token/create", map[string]any{"policies": []string{"cert-agent"}, "ttl": "30s", "renewable": true})
	if err != nil || sec == nil || sec.Auth == nil {
		t.Fatalf("create the agent's token: %v", err)
	}
	tok, accessor := sec.Auth.ClientToken, sec.Auth.Accessor

	work := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := &exec.Cmd{
		Path: self,
		// testscript.Main (TestMain) runs the CLI when argv[0] is "keyward".
		Args: []string{"keyward", "cert", "agent", "--role", "web", "--cn", "www.example.com", "--out-dir", "tls",
			"--exec", `echo "$KEYWARD_CERT_SERIAL" >> reloads; env > reload.env`},
		Dir: work,
		Env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + work, "KEYWARD_ADDR=" + n.URL, "KEYWARD_TOKEN=" + tok},
	}
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	t.Cleanup(func() {
		if !exited {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("agent output:\n%s", out.String())
		}
	})
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(work, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return string(b)
	}
	serials := func() []string { return strings.Fields(read("reloads")) }

	clocktest.Eventually(t, "the agent to renew the certificate and reload twice", func() bool { return len(serials()) >= 2 })
	s := serials()
	if s[0] == s[1] {
		t.Fatalf("the reload command saw serial %s twice: no new certificate", s[0])
	}
	clocktest.Eventually(t, "the agent to renew its token", func() bool {
		info, err := root.Write(ctx, "auth/token/lookup-accessor", map[string]any{"accessor": accessor})
		return err == nil && info != nil && info.Data["last_renewal_time"] != nil
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	exited = true
	if err != nil {
		t.Fatalf("agent after SIGTERM: %v, want exit 0", err)
	}

	last := serials()[len(serials())-1]
	b, _ := pem.Decode([]byte(read("tls/cert.pem")))
	if b == nil {
		t.Fatal("tls/cert.pem holds no certificate after the agent stopped")
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if got := serialOf(leaf); got != last {
		t.Errorf("tls/cert.pem has serial %s, the last reload saw %s", got, last)
	}
	st, err := os.Stat(filepath.Join(work, "tls/key.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("tls/key.pem: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	if strings.Contains(read("reload.env"), tok) {
		t.Error("the reload command's environment holds the token")
	}
	if log := out.String(); strings.Contains(log, tok) || strings.Contains(log, "PRIVATE KEY") {
		t.Error("the agent's log holds the token or a private key")
	}
	if !strings.Contains(out.String(), "certificate written") {
		t.Errorf("the agent's log does not say it wrote a certificate: %q", out.String())
	}
}

func serialOf(c *x509.Certificate) string {
	parts := make([]string, 0, len(c.SerialNumber.Bytes()))
	for _, x := range c.SerialNumber.Bytes() {
		parts = append(parts, fmt.Sprintf("%02x", x))
	}
	return strings.Join(parts, ":")
}
