package node_test

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // crypto.SHA1, one of the OAEP hashes import takes
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// kwpOpenSSL wraps target under kek with AES key wrap with padding (RFC
// 5649) as OpenSSL implements it, so the engine's KWP is checked against
// an implementation that is not its own. kek is a throwaway test key.
func kwpOpenSSL(t *testing.T, kek, target []byte) []byte {
	t.Helper()
	cmd := exec.Command("openssl", "enc", "-id-aes256-wrap-pad", "-K", hex.EncodeToString(kek), "-iv", "A65959A6")
	cmd.Stdin = bytes.NewReader(target)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl wrap: %v: %s", err, stderr.String())
	}
	return out
}

// wrapForVault wraps target for import the way Vault's key wrapping guide
// describes: a fresh AES-256 key under the mount's wrapping key with
// RSA-OAEP (hash h, empty label), then the target under that key with
// KWP, concatenated and base64-encoded.
func wrapForVault(t *testing.T, pub *rsa.PublicKey, newHash func() crypto.Hash, target []byte) string {
	t.Helper()
	eph := make([]byte, 32)
	if _, err := rand.Read(eph); err != nil {
		t.Fatal(err)
	}
	wrappedEph, err := rsa.EncryptOAEP(newHash().New(), rand.Reader, pub, eph, []byte{})
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(append(wrappedEph, kwpOpenSSL(t, eph, target)...))
}

// BYOK through the official Vault client: the mount's RSA-4096 wrapping
// key; keys wrapped in the test as Vault's guide describes import as
// aes256-gcm96, rsa-2048, ed25519 and hmac, and work with the material
// the test holds (a ciphertext sealed locally decrypts on the server, the
// server's signatures verify with the local public key, its HMACs match);
// import_version adds a version; every misuse is refused; the target key
// never reaches the logs.
func TestTransitImportVaultClient(t *testing.T) {
	n := nodetest.Start(t)
	root := n.Client(t)
	if err := root.Sys().Mount("transit", &vault.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	l := root.Logical()
	write := func(path string, data map[string]any) *vault.Secret {
		t.Helper()
		s, err := l.Write(path, data)
		if err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
		return s
	}
	refused := func(path string, data map[string]any) {
		t.Helper()
		_, err := l.Write(path, data)
		var re *vault.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %v, want 400", path, err)
		}
	}
	sha256Hash := func() crypto.Hash { return crypto.SHA256 }

	wk, err := l.Read("transit/wrapping_key")
	if err != nil || wk == nil {
		t.Fatalf("wrapping_key: %v", err)
	}
	block, _ := pem.Decode([]byte(wk.Data["public_key"].(string)))
	if block == nil {
		t.Fatal("wrapping key is not PEM")
	}
	parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := parsed.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 4096 {
		t.Fatalf("wrapping key %T", parsed)
	}
	if again, _ := l.Read("transit/wrapping_key"); again.Data["public_key"] != wk.Data["public_key"] {
		t.Fatal("wrapping key changed between reads")
	}

	// aes256-gcm96: seal locally, open on the server, and the other way.
	aesKey := make([]byte, 32)
	rand.Read(aesKey)
	write("transit/keys/imp/import", map[string]any{"ciphertext": wrapForVault(t, pub, sha256Hash, aesKey)})
	gcm := func(k []byte) cipher.AEAD {
		b, _ := aes.NewCipher(k)
		a, _ := cipher.NewGCM(b)
		return a
	}
	msg := []byte("import-canary-0d4e")
	in := base64.StdEncoding.EncodeToString(msg)
	seal := func(k []byte, version string) string {
		nonce := make([]byte, 12)
		rand.Read(nonce)
		return "vault:" + version + ":" + base64.StdEncoding.EncodeToString(gcm(k).Seal(nonce, nonce, msg, nil))
	}
	if got := write("transit/decrypt/imp", map[string]any{"ciphertext": seal(aesKey, "v1")}).Data["plaintext"]; got != in {
		t.Fatalf("locally sealed ciphertext decrypts to %v", got)
	}
	sct := write("transit/encrypt/imp", map[string]any{"plaintext": in}).Data["ciphertext"].(string)
	blob, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sct, "vault:v1:"))
	if pt, err := gcm(aesKey).Open(nil, blob[:12], blob[12:], nil); err != nil || !bytes.Equal(pt, msg) {
		t.Fatalf("server ciphertext does not open with the imported key: %v", err)
	}
	if info, _ := l.Read("transit/keys/imp"); info.Data["imported_key"] != true {
		t.Fatalf("imported key read: %v", info.Data)
	}
	// import_version (here with OAEP SHA-1), rotation refused without
	// allow_rotation, import onto an existing name refused.
	aesKey2 := make([]byte, 32)
	rand.Read(aesKey2)
	write("transit/keys/imp/import_version", map[string]any{"ciphertext": wrapForVault(t, pub, func() crypto.Hash { return crypto.SHA1 }, aesKey2), "hash_function": "SHA1"})
	if got := write("transit/decrypt/imp", map[string]any{"ciphertext": seal(aesKey2, "v2")}).Data["plaintext"]; got != in {
		t.Fatalf("import_version: %v", got)
	}
	refused("transit/keys/imp/rotate", nil)
	refused("transit/keys/imp/import", map[string]any{"ciphertext": wrapForVault(t, pub, sha256Hash, aesKey)})

	// rsa-2048 and ed25519 as PKCS #8.
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(rk)
	write("transit/keys/irsa/import", map[string]any{"type": "rsa-2048", "ciphertext": wrapForVault(t, pub, sha256Hash, der), "allow_rotation": true})
	sig := write("transit/sign/irsa", map[string]any{"input": in}).Data["signature"].(string)
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "vault:v1:"))
	d := sha256.Sum256(msg)
	if rsa.VerifyPSS(&rk.PublicKey, crypto.SHA256, d[:], raw, nil) != nil {
		t.Fatal("signature of the imported rsa key does not verify with its public key")
	}
	write("transit/keys/irsa/rotate", nil) // allow_rotation
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ = x509.MarshalPKCS8PrivateKey(edPriv)
	write("transit/keys/ied/import", map[string]any{"type": "ed25519", "ciphertext": wrapForVault(t, pub, sha256Hash, der)})
	sig = write("transit/sign/ied", map[string]any{"input": in}).Data["signature"].(string)
	raw, _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "vault:v1:"))
	if !ed25519.Verify(edPriv.Public().(ed25519.PublicKey), msg, raw) {
		t.Fatal("signature of the imported ed25519 key does not verify")
	}

	// hmac, 48 bytes.
	hk := make([]byte, 48)
	rand.Read(hk)
	write("transit/keys/ihmac/import", map[string]any{"type": "hmac", "ciphertext": wrapForVault(t, pub, sha256Hash, hk)})
	m := hmac.New(sha256.New, hk)
	m.Write(msg)
	if got := write("transit/hmac/ihmac", map[string]any{"input": in}).Data["hmac"]; got != "vault:v1:"+base64.StdEncoding.EncodeToString(m.Sum(nil)) {
		t.Fatal("hmac of the imported hmac key differs from the local one")
	}

	// Misuse.
	good := wrapForVault(t, pub, sha256Hash, aesKey)
	gb, _ := base64.StdEncoding.DecodeString(good)
	gb[len(gb)-3] ^= 1
	write("transit/keys/plain", nil)
	for path, data := range map[string]map[string]any{
		"transit/keys/x1/import":            {"ciphertext": base64.StdEncoding.EncodeToString(gb)},
		"transit/keys/x2/import":            {"ciphertext": good, "type": "rsa-2048"},
		"transit/keys/x3/import":            {"ciphertext": good, "hash_function": "SHA512"},
		"transit/keys/x4/import":            {"ciphertext": good, "convergent_encryption": true, "derived": true},
		"transit/keys/x5/import":            {"ciphertext": good, "auto_rotate_period": "2h"},
		"transit/keys/x6/import":            {"ciphertext": "not base64!"},
		"transit/keys/x7/import":            {"ciphertext": wrapForVault(t, pub, sha256Hash, aesKey[:16])},
		"transit/keys/x8/import":            {"ciphertext": good, "hash_function": "MD5"},
		"transit/keys/plain/import_version": {"ciphertext": good},
		"transit/keys/nope/import_version":  {"ciphertext": good},
	} {
		refused(path, data)
	}
	for _, name := range []string{"x1", "x2", "x3", "x7"} {
		if s, _ := l.Read("transit/keys/" + name); s != nil {
			t.Fatalf("a refused import left key %s", name)
		}
	}

	logs := n.Logs.String()
	for _, secret := range [][]byte{aesKey, aesKey2, hk} {
		if strings.Contains(logs, base64.StdEncoding.EncodeToString(secret)) || strings.Contains(logs, hex.EncodeToString(secret)) {
			t.Fatal("an imported key is in the server logs")
		}
	}
}
