package ssh_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/engine/ssh/sshdtest"

	vault "github.com/hashicorp/vault/api"
)

// signFor signs a fresh ed25519 key under role with data and writes the key
// (0600) and certificate into dir; it returns their paths.
func signFor(t *testing.T, sign signer, dir, name, role string, data map[string]any) (keyPath, certPath string) {
	t.Helper()
	priv, pub := newKey(t)
	data["public_key"] = pub
	signed, err := sign(role, data)
	if err != nil {
		t.Fatalf("sign %s: %v", name, err)
	}
	keyPath = filepath.Join(dir, name)
	sshdtest.WritePrivateKey(t, keyPath, priv)
	certPath = keyPath + "-cert.pub"
	if err := os.WriteFile(certPath, []byte(signed), 0o644); err != nil {
		t.Fatal(err)
	}
	return keyPath, certPath
}

// sshdSaid waits for sshd to log why it refused a login (it logs as the
// connection closes, which the client may see first).
func sshdSaid(t *testing.T, srv *sshdtest.Server, reason string) {
	t.Helper()
	clocktest.Eventually(t, "sshd to log "+strconv.Quote(reason), func() bool { return strings.Contains(srv.Log(), reason) })
}

// signer signs under a role and returns signed_key.
type signer func(role string, data map[string]any) (string, error)

// vaultSigner signs through the official client's SSH helper.
func vaultSigner(c *vault.Client) signer {
	return func(role string, data map[string]any) (string, error) {
		s, err := c.SSHWithMountPoint("ssh").SignKey(role, data)
		if err != nil {
			return "", err
		}
		return s.Data["signed_key"].(string), nil
	}
}

// TestSSHDUserCertificates logs in to a real sshd that trusts only
// Keyward's CA (no authorized_keys), and checks what it accepts.
func TestSSHDUserCertificates(t *testing.T) {
	srv := sshdtest.New(t)
	_, c, caPub := setup(t)
	writeRole(t, c, "ops", map[string]any{
		"allow_user_certificates": true,
		"allowed_users":           "ops-admin,intern",
		"ttl":                     "10m",
	})
	// sshd accepts, for the local user, certificates naming ops-admin only.
	srv.Start(t, sshdtest.Config{TrustedUserCAKey: caPub, Principals: []string{"ops-admin"}})
	known := srv.PlainKnownHosts(t)
	sign := vaultSigner(c)
	dir := t.TempDir()

	key, cert := signFor(t, sign, dir, "admin", "ops", map[string]any{"valid_principals": "ops-admin"})
	if ok, out := srv.Login(t, key, cert, known); !ok {
		t.Fatalf("login with a certificate for an allowed principal refused: %s\nsshd: %s", out, srv.Log())
	}
	// The same key without its certificate is refused: the certificate is
	// what grants access. (A copy, because ssh loads KEY-cert.pub beside
	// KEY by itself.)
	keyBytes, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(dir, "bare")
	if err := os.WriteFile(bare, keyBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if ok, out := srv.Login(t, bare, "", known); ok {
		t.Fatalf("login with the bare key accepted: %s", out)
	}

	// The role does not allow root: Keyward refuses to sign.
	_, pub := newKey(t)
	if _, err := sign("ops", map[string]any{"public_key": pub, "valid_principals": "root"}); err == nil {
		t.Fatal("signed a certificate for a principal the role does not allow")
	}

	// A certificate for another principal the role allows is refused by
	// sshd, whose principals file names ops-admin only.
	key, cert = signFor(t, sign, dir, "intern", "ops", map[string]any{"valid_principals": "intern"})
	if ok, out := srv.Login(t, key, cert, known); ok {
		t.Fatalf("login with a certificate for principal intern accepted: %s", out)
	}
	sshdSaid(t, srv, "Certificate does not contain an authorized principal")

	// An expired certificate is refused. Sign for one second, wait (on
	// the wall clock sshd reads) until its valid_before has passed, then
	// try once: no timing assertion, only the certificate's own bound.
	key, cert = signFor(t, sign, dir, "short", "ops", map[string]any{"valid_principals": "ops-admin", "ttl": "1s"})
	raw, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	validBefore := time.Unix(int64(parseCert(t, string(raw)).ValidBefore), 0)
	clocktest.Eventually(t, "the one-second certificate to expire", func() bool { return !time.Now().Before(validBefore.Add(time.Second)) })
	if ok, out := srv.Login(t, key, cert, known); ok {
		t.Fatalf("login with an expired certificate accepted: %s", out)
	}
	sshdSaid(t, srv, "Certificate invalid: expired")
}

// TestSSHDHostCertificate has Keyward sign sshd's host key, and the ssh
// client trust the host through a @cert-authority line alone.
func TestSSHDHostCertificate(t *testing.T) {
	srv := sshdtest.New(t)
	_, c, caPub := setup(t)
	writeRole(t, c, "hosts", map[string]any{
		"allow_host_certificates": true,
		"allowed_domains":         "127.0.0.1,other.example.com",
		"allow_bare_domains":      true,
		"ttl":                     "1h",
	})
	writeRole(t, c, "users", map[string]any{"allow_user_certificates": true, "allowed_users": srv.User, "default_user": srv.User})
	s, err := c.SSHWithMountPoint("ssh").SignKey("hosts", map[string]any{
		"public_key": srv.HostPublicKey, "cert_type": "host", "valid_principals": "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(t, sshdtest.Config{TrustedUserCAKey: caPub, HostCertificate: s.Data["signed_key"].(string)})

	sign := vaultSigner(c)
	key, cert := signFor(t, sign, t.TempDir(), "user", "users", map[string]any{})

	trusting := srv.KnownHosts(t, "@cert-authority "+srv.HostPattern()+" "+caPub)
	if ok, out := srv.Login(t, key, cert, trusting); !ok {
		t.Fatalf("ssh with a @cert-authority known_hosts line refused the Keyward host certificate: %s\nsshd: %s", out, srv.Log())
	}
	// Trusting another CA, the same host is refused under
	// StrictHostKeyChecking=yes: the host certificate was what vouched.
	_, otherCA := newKey(t)
	if ok, out := srv.Login(t, key, cert, srv.KnownHosts(t, "@cert-authority "+srv.HostPattern()+" "+otherCA)); ok {
		t.Fatalf("ssh accepted a host certificate from an untrusted CA: %s", out)
	} else if !strings.Contains(out, "Host key verification failed") {
		t.Fatalf("ssh refused for another reason than the host key: %s", out)
	}
}

// TestSSHDHostCertificateWrongName: a host certificate for another name
// does not vouch for 127.0.0.1.
func TestSSHDHostCertificateWrongName(t *testing.T) {
	srv := sshdtest.New(t)
	_, c, caPub := setup(t)
	writeRole(t, c, "hosts", map[string]any{"allow_host_certificates": true, "allowed_domains": "example.com", "allow_subdomains": true})
	writeRole(t, c, "users", map[string]any{"allow_user_certificates": true, "allowed_users": srv.User, "default_user": srv.User})
	s, err := c.SSHWithMountPoint("ssh").SignKey("hosts", map[string]any{
		"public_key": srv.HostPublicKey, "cert_type": "host", "valid_principals": "other.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(t, sshdtest.Config{TrustedUserCAKey: caPub, HostCertificate: s.Data["signed_key"].(string)})
	sign := vaultSigner(c)
	key, cert := signFor(t, sign, t.TempDir(), "user", "users", map[string]any{})
	if ok, out := srv.Login(t, key, cert, srv.KnownHosts(t, "@cert-authority "+srv.HostPattern()+" "+caPub)); ok {
		t.Fatalf("ssh accepted a host certificate for other.example.com at 127.0.0.1: %s", out)
	} else if !strings.Contains(out, "Host key verification failed") {
		t.Fatalf("ssh refused for another reason than the host key: %s", out)
	}
}
