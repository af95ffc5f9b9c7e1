package node_test

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// Export, backup and restore through the official Vault client: exported
// material is the real key (a ciphertext made by the server opens locally,
// an HMAC and a signature made locally match the server's), export and
// backup are refused without their flags, restore refuses an existing name
// unless forced, a token allowed only transit/encrypt/k can neither export
// nor back up, and no exported key reaches the logs or the audit log.
func TestTransitExportBackupVaultClient(t *testing.T) {
	n := nodetest.Start(t)
	root := n.Client(t)
	if err := root.Sys().Mount("transit", &vault.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	enableFileAudit(t, root, auditPath)
	l := root.Logical()
	write := func(path string, data map[string]any) *vault.Secret {
		t.Helper()
		s, err := l.Write(path, data)
		if err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
		return s
	}
	read := func(path string) *vault.Secret {
		t.Helper()
		s, err := l.Read(path)
		if err != nil || s == nil {
			t.Fatalf("read %s: %v %v", path, s, err)
		}
		return s
	}
	status := func(err error) int {
		var re *vault.ResponseError
		if errors.As(err, &re) {
			return re.StatusCode
		}
		return 0
	}
	refused := func(err error, what string) {
		t.Helper()
		if status(err) != http.StatusBadRequest {
			t.Fatalf("%s: %v, want 400", what, err)
		}
	}
	exported := func(path, version string) string {
		t.Helper()
		return read(path).Data["keys"].(map[string]any)[version].(string)
	}
	var secrets []string // every exported secret, for the sweep
	msg := []byte("export-canary-77e1")
	in := base64.StdEncoding.EncodeToString(msg)

	// An exportable aes key: the exported key opens the server's ciphertext.
	write("transit/keys/e", map[string]any{"exportable": true})
	ct := write("transit/encrypt/e", map[string]any{"plaintext": in}).Data["ciphertext"].(string)
	ek := exported("transit/export/encryption-key/e", "1")
	secrets = append(secrets, ek)
	raw, _ := base64.StdEncoding.DecodeString(ek)
	blob, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(ct, "vault:v1:"))
	blk, err := aes.NewCipher(raw)
	if err != nil {
		t.Fatalf("exported aes key: %v", err)
	}
	gcm, _ := cipher.NewGCM(blk)
	if pt, err := gcm.Open(nil, blob[:12], blob[12:], nil); err != nil || string(pt) != string(msg) {
		t.Fatalf("exported key does not open the server's ciphertext: %v", err)
	}
	hk := exported("transit/export/hmac-key/e/latest", "1")
	secrets = append(secrets, hk)
	hraw, _ := base64.StdEncoding.DecodeString(hk)
	mac := hmac.New(sha256.New, hraw)
	mac.Write(msg)
	if got := write("transit/hmac/e", map[string]any{"input": in}).Data["hmac"]; got != "vault:v1:"+base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
		t.Fatal("exported hmac key does not give the server's HMAC")
	}
	write("transit/keys/e/rotate", nil)
	if keys := read("transit/export/encryption-key/e").Data["keys"].(map[string]any); len(keys) != 2 {
		t.Fatalf("export of all versions: %d", len(keys))
	}
	write("transit/keys/e/config", map[string]any{"min_decryption_version": 2})
	if keys := read("transit/export/encryption-key/e").Data["keys"].(map[string]any); len(keys) != 1 || keys["2"] == nil {
		t.Fatalf("export below min_decryption_version: %v", len(keys))
	}
	for _, p := range []string{"transit/export/encryption-key/e/1", "transit/export/encryption-key/e/3", "transit/export/encryption-key/e/x",
		"transit/export/signing-key/e", "transit/export/public-key/e", "transit/export/other-key/e", "transit/export/encryption-key/nope"} {
		_, err := l.Read(p)
		refused(err, p)
	}

	// Not exportable: private material refused, public keys served.
	write("transit/keys/ed", map[string]any{"type": "ed25519"})
	_, err = l.Read("transit/export/signing-key/ed")
	refused(err, "signing-key of a key that is not exportable")
	_, err = l.Read("transit/export/hmac-key/ed")
	refused(err, "hmac-key of a key that is not exportable")
	if pub := exported("transit/export/public-key/ed", "1"); len(pub) == 0 {
		t.Fatal("public-key export of an ed25519 key")
	}

	// Exportable signing keys: the exported private key signs what the
	// server verifies.
	write("transit/keys/rs", map[string]any{"type": "rsa-2048", "exportable": true})
	rpem := exported("transit/export/signing-key/rs", "1")
	secrets = append(secrets, rpem)
	block, _ := pem.Decode([]byte(rpem))
	if block == nil || block.Type != "RSA PRIVATE KEY" || exported("transit/export/encryption-key/rs", "1") != rpem {
		t.Fatalf("rsa export: %v", block)
	}
	rk, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(msg)
	sig, _ := rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, d[:])
	if !write("transit/verify/rs", map[string]any{"input": in, "signature_algorithm": "pkcs1v15",
		"signature": "vault:v1:" + base64.StdEncoding.EncodeToString(sig)}).Data["valid"].(bool) {
		t.Fatal("signature by the exported rsa key does not verify on the server")
	}
	write("transit/keys/ec", map[string]any{"type": "ecdsa-p384", "exportable": true})
	if block, _ := pem.Decode([]byte(exported("transit/export/signing-key/ec", "1"))); block == nil || block.Type != "EC PRIVATE KEY" {
		t.Fatal("ecdsa signing-key export is not an EC PRIVATE KEY")
	} else if _, err := x509.ParseECPrivateKey(block.Bytes); err != nil {
		t.Fatal(err)
	}
	write("transit/keys/ed2", map[string]any{"type": "ed25519", "exportable": true})
	edk, _ := base64.StdEncoding.DecodeString(exported("transit/export/signing-key/ed2", "1"))
	if len(edk) != ed25519.PrivateKeySize {
		t.Fatalf("ed25519 signing-key export: %d bytes", len(edk))
	}
	if !write("transit/verify/ed2", map[string]any{"input": in,
		"signature": "vault:v1:" + base64.StdEncoding.EncodeToString(ed25519.Sign(edk, msg))}).Data["valid"].(bool) {
		t.Fatal("signature by the exported ed25519 key does not verify")
	}
	_, err = l.Read("transit/export/encryption-key/ed2")
	refused(err, "encryption-key of an ed25519 key")

	// Backup needs allow_plaintext_backup and exportable.
	write("transit/keys/b", map[string]any{"exportable": true})
	bct := write("transit/encrypt/b", map[string]any{"plaintext": in}).Data["ciphertext"].(string)
	_, err = l.Read("transit/backup/b")
	refused(err, "backup without allow_plaintext_backup")
	write("transit/keys/nb", map[string]any{"allow_plaintext_backup": true})
	_, err = l.Read("transit/backup/nb")
	refused(err, "backup of a key that is not exportable")
	write("transit/keys/b/config", map[string]any{"allow_plaintext_backup": true})
	bk := read("transit/backup/b").Data["backup"].(string)
	secrets = append(secrets, bk)
	write("transit/restore/b2", map[string]any{"backup": bk})
	if got := write("transit/decrypt/b2", map[string]any{"ciphertext": bct}).Data["plaintext"]; got != in {
		t.Fatalf("restored key decrypts to %v", got)
	}
	_, err = l.Write("transit/restore", map[string]any{"backup": bk})
	refused(err, "restore over an existing key")
	_, err = l.Write("transit/restore/b2", map[string]any{"backup": bk})
	refused(err, "restore over an existing key by name")
	write("transit/keys/b/rotate", nil)
	write("transit/keys/b/config", map[string]any{"min_decryption_version": 2})
	write("transit/restore", map[string]any{"backup": bk, "force": true})
	if got := write("transit/decrypt/b", map[string]any{"ciphertext": bct}).Data["plaintext"]; got != in {
		t.Fatalf("forced restore: %v", got)
	}
	if v := read("transit/keys/b").Data["latest_version"]; fmt.Sprint(v) != "1" {
		t.Fatalf("forced restore kept the newer key: latest %v", v)
	}
	for _, bad := range []string{"not a backup", base64.StdEncoding.EncodeToString([]byte(`{"keyward_transit_backup":1}`)), bk[:len(bk)/2]} {
		_, err = l.Write("transit/restore/bad", map[string]any{"backup": bad})
		refused(err, "restore of a damaged backup")
	}
	_, err = l.Delete("transit/keys/b2")
	refused(err, "delete of a restored key without deletion_allowed")

	// A token allowed only transit/encrypt/k encrypts, and nothing else.
	write("transit/keys/k", map[string]any{"exportable": true, "allow_plaintext_backup": true})
	tok := tokenWith(t, root, "encrypt-only", `path "transit/encrypt/k" { capabilities = ["update"] }`)
	lim := nodetest.VaultClient(t, n.URL, tok).Logical()
	if _, err := lim.Write("transit/encrypt/k", map[string]any{"plaintext": in}); err != nil {
		t.Fatalf("encrypt with the limited token: %v", err)
	}
	for _, c := range []struct {
		op, path string
	}{
		{"read", "transit/export/encryption-key/k"}, {"read", "transit/export/hmac-key/k/1"}, {"read", "transit/backup/k"},
		{"write", "transit/restore/k"}, {"write", "transit/keys/k/trim"}, {"read", "transit/wrapping_key"},
		{"write", "transit/keys/k/import"}, {"write", "transit/keys/k/import_version"}, {"write", "transit/keys/k/config"},
	} {
		var err error
		if c.op == "read" {
			_, err = lim.Read(c.path)
		} else {
			_, err = lim.Write(c.path, map[string]any{"backup": bk, "min_available_version": 1, "ciphertext": "AAAA"})
		}
		if status(err) != http.StatusForbidden {
			t.Fatalf("limited token %s %s: %v, want 403", c.op, c.path, err)
		}
	}

	// No exported secret is in the server's logs or the audit log.
	auditLog, err := os.ReadFile(auditPath)
	if err != nil || !strings.Contains(string(auditLog), "export/encryption-key/e") || !strings.Contains(string(auditLog), "transit/backup/b") {
		t.Fatalf("audit log without the export and backup requests: %v", err)
	}
	logs := n.Logs.String()
	for i, s := range secrets {
		for _, part := range []string{s, strings.TrimSpace(strings.Split(s, "\n")[min(1, strings.Count(s, "\n"))])} {
			if strings.Contains(string(auditLog), part) || strings.Contains(logs, part) {
				t.Fatalf("exported secret %d found in the audit log or the server logs", i)
			}
		}
	}
}
