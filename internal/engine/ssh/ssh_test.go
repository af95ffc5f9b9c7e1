package ssh_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/keyward/keyward/internal/node/nodetest"

	vault "github.com/hashicorp/vault/api"
)

// setup starts a server with the ssh engine at ssh/ and an ed25519 CA; it
// returns the root client and the CA public key line.
func setup(t *testing.T) (*nodetest.Node, *vault.Client, string) {
	t.Helper()
	n := nodetest.Start(t)
	c := n.Client(t)
	if err := c.Sys().Mount("ssh", &vault.MountInput{Type: "ssh"}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Logical().Write("ssh/config/ca", map[string]any{"generate_signing_key": true, "key_type": "ed25519"})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := s.Data["public_key"].(string)
	if !strings.HasPrefix(pub, "ssh-ed25519 ") || !strings.HasSuffix(pub, "\n") {
		t.Fatalf("config/ca public_key = %q, want an ssh-ed25519 authorized_keys line", pub)
	}
	return n, c, pub
}

func writeRole(t testing.TB, c *vault.Client, name string, data map[string]any) {
	t.Helper()
	data["key_type"] = "ca"
	if _, err := c.Logical().Write("ssh/roles/"+name, data); err != nil {
		t.Fatalf("write role %s: %v", name, err)
	}
}

// newKey returns a fresh ed25519 key and its public half as an
// authorized_keys line.
func newKey(t testing.TB) (ed25519.PrivateKey, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return priv, string(ssh.MarshalAuthorizedKey(sp))
}

func parseCert(t testing.TB, signed string) *ssh.Certificate {
	t.Helper()
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(signed))
	if err != nil {
		t.Fatalf("parse signed_key %q: %v", signed, err)
	}
	cert, ok := k.(*ssh.Certificate)
	if !ok {
		t.Fatalf("signed_key is a %T, not a certificate", k)
	}
	return cert
}

func status(err error) int {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func TestCAConfigAndPublicKey(t *testing.T) {
	n, c, caPub := setup(t)

	// A second write is refused until the key is deleted.
	if _, err := c.Logical().Write("ssh/config/ca", map[string]any{"key_type": "ed25519"}); status(err) != http.StatusBadRequest {
		t.Fatalf("second config/ca write: %v, want 400", err)
	}
	s, err := c.Logical().Read("ssh/config/ca")
	if err != nil || s.Data["public_key"] != caPub {
		t.Fatalf("read config/ca = %v, %v; want public_key %q", s, err, caPub)
	}
	if _, leaked := s.Data["private_key"]; leaked {
		t.Fatal("read config/ca returned the private key")
	}

	// public_key needs no token and is plain text, as Vault serves it.
	resp, err := http.Get(n.URL + "/v1/ssh/public_key")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != caPub || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET public_key without a token = %d %q %q; want 200 text/plain %q", resp.StatusCode, resp.Header.Get("Content-Type"), body, caPub)
	}
	// Other paths still need one.
	resp, err = http.Get(n.URL + "/v1/ssh/config/ca")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET config/ca without a token = %d, want 403", resp.StatusCode)
	}

	if _, err := c.Logical().Delete("ssh/config/ca"); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(n.URL + "/v1/ssh/public_key")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET public_key with no CA = %d, want 404", resp.StatusCode)
	}
	writeRole(t, c, "ops", map[string]any{"allow_user_certificates": true, "allowed_users": "ops"})
	_, pub := newKey(t)
	if _, err := c.SSHWithMountPoint("ssh").SignKey("ops", map[string]any{"public_key": pub, "valid_principals": "ops"}); status(err) != http.StatusBadRequest {
		t.Fatalf("sign without a CA: %v, want 400", err)
	}
}

func TestImportedRSACAAndAlgorithmSigner(t *testing.T) {
	n, c, _ := setup(t)
	if _, err := c.Logical().Delete("ssh/config/ca"); err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}))
	sp, _ := ssh.NewPublicKey(&rk.PublicKey)
	pubLine := string(ssh.MarshalAuthorizedKey(sp))

	// A public key that does not match is refused, and the error never
	// echoes the private key.
	_, other := newKey(t)
	_, err = c.Logical().Write("ssh/config/ca", map[string]any{"private_key": privPEM, "public_key": other})
	if status(err) != http.StatusBadRequest {
		t.Fatalf("mismatched import: %v, want 400", err)
	}
	body := privPEM[40:80] // a slice of the base64 body: the canary
	if strings.Contains(err.Error(), body) {
		t.Fatal("import error carries private key material")
	}
	// A malformed key is refused without echoing it either.
	_, err = c.Logical().Write("ssh/config/ca", map[string]any{"private_key": "-----BEGIN RSA PRIVATE KEY-----\n" + body + "\n-----END RSA PRIVATE KEY-----\n"})
	if status(err) != http.StatusBadRequest || strings.Contains(err.Error(), body) {
		t.Fatalf("malformed import: %v, want a 400 without the key", err)
	}

	s, err := c.Logical().Write("ssh/config/ca", map[string]any{"private_key": privPEM, "public_key": pubLine})
	if err != nil || s.Data["public_key"] != pubLine {
		t.Fatalf("import = %v, %v; want public_key %q", s, err, pubLine)
	}
	for _, algo := range []string{"", "rsa-sha2-256", "rsa-sha2-512"} {
		data := map[string]any{"allow_user_certificates": true, "allowed_users": "ops", "default_user": "ops"}
		if algo != "" {
			data["algorithm_signer"] = algo
		}
		writeRole(t, c, "rsa", data)
		_, pub := newKey(t)
		s, err := c.SSHWithMountPoint("ssh").SignKey("rsa", map[string]any{"public_key": pub})
		if err != nil {
			t.Fatal(err)
		}
		cert := parseCert(t, s.Data["signed_key"].(string))
		want := algo
		if want == "" {
			want = ssh.KeyAlgoRSASHA256
		}
		if cert.Signature.Format != want {
			t.Errorf("algorithm_signer %q: signature %s, want %s", algo, cert.Signature.Format, want)
		}
		if string(cert.SignatureKey.Marshal()) != string(sp.Marshal()) {
			t.Error("certificate not signed by the imported key")
		}
		checker := ssh.CertChecker{}
		if err := checker.CheckCert("ops", cert); err != nil {
			t.Errorf("CheckCert: %v", err)
		}
	}
	if _, err := c.Logical().Write("ssh/roles/sha1", map[string]any{"key_type": "ca", "allow_user_certificates": true, "algorithm_signer": "ssh-rsa"}); status(err) != http.StatusBadRequest {
		t.Fatalf("algorithm_signer ssh-rsa: %v, want 400", err)
	}
	if strings.Contains(n.Logs.String(), body) {
		t.Fatal("server log carries private key material")
	}
}

func TestRoles(t *testing.T) {
	_, c, _ := setup(t)
	writeRole(t, c, "ops", map[string]any{
		"allow_user_certificates":  true,
		"allowed_users":            "ops,deploy",
		"default_user":             "ops",
		"ttl":                      "30m",
		"max_ttl":                  "2h",
		"default_extensions":       map[string]any{"permit-pty": ""},
		"allowed_extensions":       "permit-pty,permit-port-forwarding",
		"allowed_user_key_lengths": map[string]any{"ed25519": 256, "rsa": []any{2048, 4096}},
		"key_id_format":            "{{role_name}}-{{token_display_name}}",
	})
	s, err := c.Logical().Read("ssh/roles/ops")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"key_type": "ca", "allowed_users": "ops,deploy", "default_user": "ops",
		"ttl": "1800", "max_ttl": "7200", "algorithm_signer": "default", "not_before_duration": "30",
		"key_id_format": "{{role_name}}-{{token_display_name}}", "allow_host_certificates": "false"} {
		if got := toString(s.Data[k]); got != want {
			t.Errorf("role %s = %q, want %q", k, got, want)
		}
	}
	l, err := c.Logical().List("ssh/roles")
	if err != nil || l == nil || toString(l.Data["keys"]) != "[ops]" {
		t.Fatalf("list roles = %v, %v", l, err)
	}
	for name, data := range map[string]map[string]any{
		"otp":          {"key_type": "otp", "default_user": "x"},
		"no-cert-type": {"key_type": "ca"},
		"template":     {"key_type": "ca", "allow_user_certificates": true, "allowed_users_template": true},
		"ttl-over-max": {"key_type": "ca", "allow_user_certificates": true, "ttl": "2h", "max_ttl": "1h"},
		"bad-key-id":   {"key_type": "ca", "allow_user_certificates": true, "key_id_format": "{{identity.entity.id}}"},
		"bad-lengths":  {"key_type": "ca", "allow_user_certificates": true, "allowed_user_key_lengths": map[string]any{"dsa": 1024}},
		"typo":         {"key_type": "ca", "allow_user_certificates": true, "allowed_user": "root"},
	} {
		if _, err := c.Logical().Write("ssh/roles/"+name, data); status(err) != http.StatusBadRequest {
			t.Errorf("role %s: %v, want 400", name, err)
		}
	}
	if _, err := c.Logical().Delete("ssh/roles/ops"); err != nil {
		t.Fatal(err)
	}
	if s, err := c.Logical().Read("ssh/roles/ops"); err != nil || s != nil {
		t.Fatalf("read deleted role = %v, %v", s, err)
	}
}

func toString(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func TestSign(t *testing.T) {
	_, c, caPub := setup(t)
	writeRole(t, c, "ops", map[string]any{
		"allow_user_certificates":  true,
		"allow_host_certificates":  true,
		"allowed_users":            "ops,deploy",
		"default_user":             "ops",
		"allowed_domains":          "example.com",
		"allow_subdomains":         true,
		"ttl":                      "30m",
		"max_ttl":                  "2h",
		"default_extensions":       map[string]any{"permit-pty": ""},
		"allowed_extensions":       "permit-pty,permit-port-forwarding",
		"allowed_critical_options": "force-command",
		"allowed_user_key_lengths": map[string]any{"ed25519": 256, "rsa": 4096},
	})
	sshc := c.SSHWithMountPoint("ssh")
	_, pub := newKey(t)
	caKey, _, _, _, _ := ssh.ParseAuthorizedKey([]byte(caPub))

	before := time.Now()
	s, err := sshc.SignKey("ops", map[string]any{"public_key": pub})
	if err != nil {
		t.Fatal(err)
	}
	cert := parseCert(t, s.Data["signed_key"].(string))
	if !strings.HasSuffix(s.Data["signed_key"].(string), "\n") {
		t.Error("signed_key has no trailing newline (Vault's form)")
	}
	if s.Data["serial_number"] != strconv.FormatUint(cert.Serial, 16) {
		t.Errorf("serial_number %v, certificate serial %x", s.Data["serial_number"], cert.Serial)
	}
	if cert.CertType != ssh.UserCert || strings.Join(cert.ValidPrincipals, ",") != "ops" {
		t.Errorf("cert type %d principals %q, want user [ops]", cert.CertType, cert.ValidPrincipals)
	}
	if _, ok := cert.Extensions["permit-pty"]; !ok || len(cert.Extensions) != 1 {
		t.Errorf("extensions %v, want the role default permit-pty", cert.Extensions)
	}
	if !strings.HasPrefix(cert.KeyId, "vault-root-") || len(cert.KeyId) != len("vault-root-")+64 {
		t.Errorf("key id %q, want vault-<display name>-<sha256 of the key>", cert.KeyId)
	}
	va, vb := time.Unix(int64(cert.ValidAfter), 0), time.Unix(int64(cert.ValidBefore), 0)
	if d := vb.Sub(va); d != 30*time.Minute+30*time.Second {
		t.Errorf("validity %v, want ttl 30m + not_before_duration 30s", d)
	}
	if va.After(before) {
		t.Errorf("valid_after %v is after the request (%v): not backdated", va, before)
	}
	if string(cert.SignatureKey.Marshal()) != string(caKey.Marshal()) {
		t.Error("certificate not signed by the CA key")
	}

	// Requested values the role allows.
	s, err = sshc.SignKey("ops", map[string]any{"public_key": pub, "valid_principals": "deploy,ops", "ttl": "2h",
		"extensions": map[string]any{"permit-port-forwarding": ""}, "critical_options": map[string]any{"force-command": "/bin/true"}})
	if err != nil {
		t.Fatal(err)
	}
	cert = parseCert(t, s.Data["signed_key"].(string))
	if strings.Join(cert.ValidPrincipals, ",") != "deploy,ops" || cert.CriticalOptions["force-command"] != "/bin/true" {
		t.Errorf("principals %q critical options %v", cert.ValidPrincipals, cert.CriticalOptions)
	}
	if _, ok := cert.Extensions["permit-pty"]; ok {
		t.Error("requested extensions should replace the defaults, not add to them")
	}

	// A host certificate for a subdomain.
	s, err = sshc.SignKey("ops", map[string]any{"public_key": pub, "cert_type": "host", "valid_principals": "db1.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	cert = parseCert(t, s.Data["signed_key"].(string))
	if cert.CertType != ssh.HostCert || len(cert.Extensions) != 0 {
		t.Errorf("host cert: type %d extensions %v", cert.CertType, cert.Extensions)
	}

	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaPub, _ := ssh.NewPublicKey(&rk.PublicKey)
	signedCert := s.Data["signed_key"].(string)
	for name, data := range map[string]map[string]any{
		"principal not allowed":       {"valid_principals": "root"},
		"one of two not allowed":      {"valid_principals": "ops,root"},
		"glob principal":              {"valid_principals": "o*"},
		"host name not allowed":       {"cert_type": "host", "valid_principals": "example.org"},
		"bare domain not allowed":     {"cert_type": "host", "valid_principals": "example.com"},
		"host without principals":     {"cert_type": "host"},
		"unknown cert type":           {"cert_type": "both"},
		"ttl over max":                {"ttl": "3h"},
		"extension not allowed":       {"extensions": map[string]any{"permit-X11-forwarding": ""}},
		"critical option not allowed": {"critical_options": map[string]any{"source-address": "10.0.0.0/8"}},
		"host with extensions":        {"cert_type": "host", "valid_principals": "a.example.com", "extensions": map[string]any{"permit-pty": ""}},
		"key id not allowed":          {"key_id": "me"},
		"key length not allowed":      {"public_key": string(ssh.MarshalAuthorizedKey(rsaPub))},
		"certificate as key":          {"public_key": signedCert},
		"not a key":                   {"public_key": "ssh-ed25519 AAAA"},
		"unknown field":               {"valid_principal": "ops"},
	} {
		if _, ok := data["public_key"]; !ok {
			data["public_key"] = pub
		}
		if s, err := sshc.SignKey("ops", data); status(err) != http.StatusBadRequest {
			t.Errorf("%s: sign = %v, %v; want 400", name, s, err)
		}
	}
	if _, err := sshc.SignKey("nope", map[string]any{"public_key": pub}); status(err) != http.StatusBadRequest {
		t.Errorf("unknown role: %v, want 400", err)
	}

	// A role without allowed_users signs nothing; one without default_user
	// and allow_empty_principals signs no principal-less certificate.
	writeRole(t, c, "none", map[string]any{"allow_user_certificates": true})
	if _, err := sshc.SignKey("none", map[string]any{"public_key": pub, "valid_principals": "ops"}); status(err) != http.StatusBadRequest {
		t.Errorf("role without allowed_users: %v, want 400", err)
	}
	writeRole(t, c, "empty", map[string]any{"allow_user_certificates": true, "allowed_users": "*", "allow_empty_principals": true})
	s, err = sshc.SignKey("empty", map[string]any{"public_key": pub})
	if err != nil || len(parseCert(t, s.Data["signed_key"].(string)).ValidPrincipals) != 0 {
		t.Errorf("allow_empty_principals: %v, %v", s, err)
	}
}

func TestIssue(t *testing.T) {
	n, c, _ := setup(t)
	writeRole(t, c, "ops", map[string]any{"allow_user_certificates": true, "allowed_users": "ops", "default_user": "ops", "ttl": "1h"})
	for _, kt := range []struct{ typ, bits, family, algo string }{
		{"ed25519", "", "ed25519", ssh.KeyAlgoED25519},
		{"ec", "384", "ec", ssh.KeyAlgoECDSA384},
		{"rsa", "2048", "rsa", ssh.KeyAlgoRSA},
	} {
		data := map[string]any{"key_type": kt.typ}
		if kt.bits != "" {
			data["key_bits"] = kt.bits
		}
		s, err := c.Logical().Write("ssh/issue/ops", data)
		if err != nil {
			t.Fatalf("issue %s: %v", kt.typ, err)
		}
		if s.Data["private_key_type"] != kt.family {
			t.Errorf("issue %s: private_key_type %v", kt.typ, s.Data["private_key_type"])
		}
		signer, err := ssh.ParsePrivateKey([]byte(s.Data["private_key"].(string)))
		if err != nil {
			t.Fatalf("issue %s: private_key: %v", kt.typ, err)
		}
		// The issued key is the caller's alone: the server logs no part of it.
		if body := strings.Split(s.Data["private_key"].(string), "\n")[2]; strings.Contains(n.Logs.String(), body) {
			t.Fatalf("issue %s: server log carries the issued private key", kt.typ)
		}
		cert := parseCert(t, s.Data["signed_key"].(string))
		if cert.Key.Type() != kt.algo || string(cert.Key.Marshal()) != string(signer.PublicKey().Marshal()) {
			t.Errorf("issue %s: certificate key %s does not match the private key", kt.typ, cert.Key.Type())
		}
	}
	if _, err := c.Logical().Write("ssh/issue/ops", map[string]any{"key_type": "ed25519", "valid_principals": "root"}); status(err) != http.StatusBadRequest {
		t.Errorf("issue for a principal not allowed: %v, want 400", err)
	}
	if _, err := c.Logical().Write("ssh/issue/ops", map[string]any{"key_type": "rsa", "key_bits": 1024}); status(err) != http.StatusBadRequest {
		t.Errorf("issue rsa 1024: %v, want 400", err)
	}
}

// TestTypeConfusionNeverEchoesValue sends a canary where a value of
// another type (or a key) belongs: every answer is a 400 naming the field,
// and neither the error nor the server log holds the canary.
func TestTypeConfusionNeverEchoesValue(t *testing.T) {
	n, c, _ := setup(t)
	writeRole(t, c, "ops", map[string]any{"allow_user_certificates": true, "allowed_users": "ops", "default_user": "ops"})
	const canary = "KWCANARY-4f0c9d2e8b7a6e5d4c3b2a1908f7e6d5"
	_, pub := newKey(t)
	for path, data := range map[string]map[string]any{
		"ssh/sign/ops#ttl":              {"public_key": pub, "ttl": canary},
		"ssh/sign/ops#public_key":       {"public_key": canary},
		"ssh/sign/ops#public_key_b64":   {"public_key": "ssh-ed25519 " + canary},
		"ssh/sign/ops#extensions":       {"public_key": pub, "extensions": canary},
		"ssh/sign/ops#critical_options": {"public_key": pub, "critical_options": map[string]any{"force-command": map[string]any{"x": canary}}},
		"ssh/sign/ops#cert_type":        {"public_key": pub, "cert_type": canary},
		"ssh/issue/ops#key_bits":        {"key_type": "ed25519", "key_bits": canary},
		"ssh/issue/ops#key_type":        {"key_type": canary},
		"ssh/roles/x#ttl":               {"key_type": "ca", "allow_user_certificates": true, "ttl": canary},
		"ssh/roles/x#key_type":          {"key_type": canary},
		"ssh/roles/x#algorithm_signer":  {"key_type": "ca", "allow_user_certificates": true, "algorithm_signer": canary},
		"ssh/roles/x#key_lengths":       {"key_type": "ca", "allow_user_certificates": true, "allowed_user_key_lengths": map[string]any{"rsa": canary}},
		"ssh/roles/x#default_ext":       {"key_type": "ca", "allow_user_certificates": true, "default_extensions": canary},
	} {
		p, _, _ := strings.Cut(path, "#")
		_, err := c.Logical().Write(p, data)
		if status(err) != http.StatusBadRequest {
			t.Errorf("%s: %v, want 400", path, err)
			continue
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("%s: error echoes the value: %v", path, err)
		}
	}
	// config/ca: a canary private key, in and out of PEM armour.
	if _, err := c.Logical().Delete("ssh/config/ca"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{canary, "-----BEGIN OPENSSH PRIVATE KEY-----\n" + canary + "\n-----END OPENSSH PRIVATE KEY-----\n"} {
		_, err := c.Logical().Write("ssh/config/ca", map[string]any{"private_key": v})
		if status(err) != http.StatusBadRequest || strings.Contains(err.Error(), canary) {
			t.Errorf("config/ca with a canary private_key: %v, want a 400 without it", err)
		}
	}
	if strings.Contains(n.Logs.String(), canary) {
		t.Fatal("server log holds the canary")
	}
}

// TestPathHelp: vault path-help works on the engine's routes, from the
// same declarations the handlers check fields against.
func TestPathHelp(t *testing.T) {
	_, c, _ := setup(t)
	for path, want := range map[string][]string{
		"ssh/sign/ops":  {"Matching Route: sign/{role}", "public_key (string)", "valid_principals (string)", "extensions (map)"},
		"ssh/issue/ops": {"key_type (string)", "key_bits (int)"},
		"ssh/roles/ops": {"allowed_users (string)", "allow_empty_principals (bool)", "allowed_user_key_lengths (map)", "max_ttl (duration (sec))"},
		"ssh/config/ca": {"generate_signing_key (bool)", "private_key (string)"},
		"ssh/":          {"certificate authority"},
	} {
		h, err := c.Help(path)
		if err != nil {
			t.Fatalf("help %s: %v", path, err)
		}
		for _, w := range want {
			if !strings.Contains(h.Help, w) {
				t.Errorf("help %s lacks %q:\n%s", path, w, h.Help)
			}
		}
	}
}

// TestPolicyLimitsPrincipals: a policy's allowed_parameters narrow a role
// further, as in Vault: this token may sign only for deploy.
func TestPolicyLimitsPrincipals(t *testing.T) {
	n, c, _ := setup(t)
	writeRole(t, c, "ops", map[string]any{"allow_user_certificates": true, "allowed_users": "ops,deploy"})
	if err := c.Sys().PutPolicy("deploy-only", `
path "ssh/sign/ops" {
  capabilities = ["update"]
  allowed_parameters = {
    "valid_principals" = ["deploy"]
    "public_key"       = []
  }
}`); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"deploy-only"}})
	if err != nil {
		t.Fatal(err)
	}
	limited := nodetest.VaultClient(t, n.URL, tok.Auth.ClientToken)
	_, pub := newKey(t)
	s, err := limited.SSHWithMountPoint("ssh").SignKey("ops", map[string]any{"public_key": pub, "valid_principals": "deploy"})
	if err != nil {
		t.Fatalf("sign for deploy: %v", err)
	}
	if p := parseCert(t, s.Data["signed_key"].(string)).ValidPrincipals; len(p) != 1 || p[0] != "deploy" {
		t.Fatalf("principals %q, want [deploy]", p)
	}
	for _, principals := range []string{"ops", "deploy,ops", "ops,deploy"} {
		if _, err := limited.SSHWithMountPoint("ssh").SignKey("ops", map[string]any{"public_key": pub, "valid_principals": principals}); status(err) != http.StatusForbidden {
			t.Errorf("sign for %q with the deploy-only token: %v, want 403", principals, err)
		}
	}
	if _, err := limited.Logical().Write("ssh/issue/ops", map[string]any{"key_type": "ed25519", "valid_principals": "deploy"}); status(err) != http.StatusForbidden {
		t.Errorf("issue with the deploy-only token: %v, want 403", err)
	}
}
