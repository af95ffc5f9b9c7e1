package cli_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/internal/engine/ssh/sshdtest"
	"github.com/keyward/keyward/internal/node/nodetest"

	vault "github.com/hashicorp/vault/api"
)

// sshCA starts a server with an ed25519 CA at ssh/ and role ops allowing
// user, and an sshd trusting that CA; it points the CLI at the server.
func sshCA(t *testing.T) *sshdtest.Server {
	t.Helper()
	srv := sshdtest.New(t)
	n := nodetest.Start(t)
	c := n.Client(t)
	if err := c.Sys().Mount("ssh", &vault.MountInput{Type: "ssh"}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Logical().Write("ssh/config/ca", map[string]any{"key_type": "ed25519"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("ssh/roles/ops", map[string]any{"key_type": "ca", "allow_user_certificates": true,
		"allowed_users": srv.User + ",intern", "ttl": "10m"}); err != nil {
		t.Fatal(err)
	}
	srv.Start(t, sshdtest.Config{TrustedUserCAKey: s.Data["public_key"].(string), Principals: []string{srv.User}})
	t.Setenv("KEYWARD_ADDR", n.URL)
	t.Setenv("KEYWARD_TOKEN", n.RootToken.Reveal())
	return srv
}

func runKeyward(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Main(t.Context(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestSSHSignWritesCertificateBesideKey(t *testing.T) {
	srv := sshCA(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	if err := os.Mkdir(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(home, ".ssh", "id_ed25519")
	sshdtest.WritePrivateKey(t, keyPath, priv)
	sp, _ := ssh.NewPublicKey(pub)
	if err := os.WriteFile(keyPath+".pub", ssh.MarshalAuthorizedKey(sp), 0o644); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runKeyward(t, "ssh", "sign", "--role", "ops", "--principals", srv.User)
	certPath := keyPath + "-cert.pub"
	if code != 0 || strings.TrimSpace(stdout) != certPath {
		t.Fatalf("keyward ssh sign = %d, stdout %q, stderr %q; want 0 and %s", code, stdout, stderr, certPath)
	}
	st, err := os.Stat(certPath)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("certificate file: %v, %v; want mode 0644", st, err)
	}
	if ok, out := srv.Login(t, keyPath, certPath, srv.PlainKnownHosts(t)); !ok {
		t.Fatalf("login with the certificate keyward ssh sign wrote refused: %s\nsshd: %s", out, srv.Log())
	}

	// --public-key elsewhere; a principal the role refuses writes nothing.
	other := filepath.Join(t.TempDir(), "deploy.pub")
	if err := os.WriteFile(other, ssh.MarshalAuthorizedKey(sp), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runKeyward(t, "ssh", "sign", "--role", "ops", "--public-key", other, "--principals", "mallory"); code != 1 || !strings.Contains(stderr, "not a valid value") {
		t.Fatalf("sign for mallory = %d, %q; want exit 1 and the server's refusal", code, stderr)
	}
	if _, err := os.Stat(strings.TrimSuffix(other, ".pub") + "-cert.pub"); !os.IsNotExist(err) {
		t.Fatalf("a refused sign left a certificate: %v", err)
	}
	if code, _, _ := runKeyward(t, "ssh", "sign", "--public-key", other); code != 2 {
		t.Fatalf("sign without --role = %d, want 2", code)
	}
}

func TestSSHConnectsWithFreshKey(t *testing.T) {
	srv := sshCA(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	known := srv.PlainKnownHosts(t)
	dest := srv.User + "@127.0.0.1"

	// The remote command runs on this machine, so it can look at the
	// private directory while ssh runs: 0700, key and certificate 0600.
	args := append([]string{"ssh", "--role", "ops", dest}, srv.ClientArgs(known)...)
	probe := "stat -c '%a %n' " + tmp + "/keyward-ssh-* " + tmp + "/keyward-ssh-*/*"
	code, stdout, stderr := runKeyward(t, append(args, probe)...)
	if code != 0 {
		t.Fatalf("keyward ssh = %d, stdout %q, stderr %q\nsshd: %s", code, stdout, stderr, srv.Log())
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "700 ") || !strings.HasPrefix(lines[1], "600 ") || !strings.HasPrefix(lines[2], "600 ") {
		t.Fatalf("private directory while ssh ran:\n%s\nwant 700 dir, 600 key, 600 certificate", stdout)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Fatalf("keyward ssh left %v in TMPDIR", entries)
	}

	// What follows the destination reaches ssh and the remote command as
	// written: "-xyz" is not rewritten to keyward's "--xyz".
	args = append([]string{"ssh", "-role", "ops", dest}, srv.ClientArgs(known)...)
	if code, stdout, stderr := runKeyward(t, append(args, "echo", "-xyz")...); code != 0 || strings.TrimSpace(stdout) != "-xyz" {
		t.Fatalf("keyward ssh ... echo -xyz = %d, %q, %q; want -xyz", code, stdout, stderr)
	}

	// ssh's exit code is keyward's, and "--" before ssh's arguments works.
	args = append([]string{"ssh", "--role", "ops", dest, "--"}, srv.ClientArgs(known)...)
	if code, _, stderr := runKeyward(t, append(args, "exit 3")...); code != 3 {
		t.Fatalf("keyward ssh ... exit 3 = %d (%s), want 3", code, stderr)
	}

	// A principal the role does not allow is refused before ssh runs.
	args = append([]string{"ssh", "--role", "ops", "root2@127.0.0.1"}, srv.ClientArgs(known)...)
	if code, _, stderr := runKeyward(t, append(args, "true")...); code != 1 || !strings.Contains(stderr, "not a valid value") {
		t.Fatalf("keyward ssh as root2 = %d, %q; want exit 1 and the server's refusal", code, stderr)
	}
	// One the role allows but sshd does not map to the user is refused by
	// sshd, and ssh's failure is keyward's.
	args = append([]string{"ssh", "--role", "ops", "--principal", "intern", dest}, srv.ClientArgs(known)...)
	if code, _, _ := runKeyward(t, append(args, "true")...); code != 255 {
		t.Fatalf("keyward ssh --principal intern = %d, want ssh's 255", code)
	}
}

// TestSSHChildGetsNoToken: ssh, and whatever it starts (ProxyCommand,
// LocalCommand, SendEnv to the remote), never sees keyward's token. A
// stand-in ssh first on PATH records the environment it was given.
func TestSSHChildGetsNoToken(t *testing.T) {
	srv := sshCA(t)
	token := os.Getenv("KEYWARD_TOKEN")
	t.Setenv("VAULT_TOKEN", token)
	bin := t.TempDir()
	envFile := filepath.Join(t.TempDir(), "env")
	script := "#!/bin/sh\nenv > '" + envFile + "'\n"
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if code, stdout, stderr := runKeyward(t, "ssh", "--role", "ops", srv.User+"@127.0.0.1", "true"); code != 0 {
		t.Fatalf("keyward ssh = %d, %q, %q", code, stdout, stderr)
	}
	env, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(env), "PATH=") {
		t.Fatalf("the stand-in ssh recorded no environment: %q", env)
	}
	if strings.Contains(string(env), token) {
		t.Fatal("ssh's environment holds keyward's token")
	}
}
