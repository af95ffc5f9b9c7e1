package node_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"
)

// transitPublicKey reads version of key name and parses its PEM public key.
func transitPublicKey(t *testing.T, l *vault.Logical, name, version string) (any, string) {
	t.Helper()
	s, err := l.Read("transit/keys/" + name)
	if err != nil || s == nil {
		t.Fatalf("read %s: %v", name, err)
	}
	kv, ok := s.Data["keys"].(map[string]any)[version].(map[string]any)
	if !ok {
		t.Fatalf("read %s: no version %s: %v", name, version, s.Data["keys"])
	}
	block, _ := pem.Decode([]byte(kv["public_key"].(string)))
	if block == nil {
		t.Fatalf("%s: public key is not PEM", name)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("%s: parse public key: %v", name, err)
	}
	return pub, kv["name"].(string)
}

// signatureBytes strips "vault:vN:" and decodes the rest with enc.
func signatureBytes(t *testing.T, sig, prefix string, enc *base64.Encoding) []byte {
	t.Helper()
	rest, ok := strings.CutPrefix(sig, prefix)
	if !ok {
		t.Fatalf("signature %q, want prefix %s", sig, prefix)
	}
	b, err := enc.DecodeString(rest)
	if err != nil {
		t.Fatalf("signature %q: %v", sig, err)
	}
	return b
}

// ecdsa-p384 and RSA keys through the official Vault client: every
// signature (pss and pkcs1v15, sha2 and sha3, prehashed, asn1 and jws) is
// checked with crypto/ecdsa or crypto/rsa against the public key the read
// returned; verify accepts the genuine and refuses the tampered or the
// wrong scheme; RSA encrypts with OAEP SHA-256, so a ciphertext made here
// with crypto/rsa decrypts on the server.
func TestTransitRSAAndP384VaultClient(t *testing.T) {
	l, write, status := transitClient(t)
	msg := []byte("sign me, rsa")
	in := base64.StdEncoding.EncodeToString(msg)
	other := base64.StdEncoding.EncodeToString([]byte("sign me, rsb"))
	sign := func(name string, data map[string]any) string {
		t.Helper()
		data["input"] = in
		return write("transit/sign/"+name, data).Data["signature"].(string)
	}
	valid := func(name string, data map[string]any) bool {
		t.Helper()
		return write("transit/verify/"+name, data).Data["valid"].(bool)
	}

	// ecdsa-p384: asn1 and jws (r||s, 48 bytes each).
	write("transit/keys/p384", map[string]any{"type": "ecdsa-p384"})
	pub, curve := transitPublicKey(t, l, "p384", "1")
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if !ok || curve != "P-384" || ecPub.Curve.Params().Name != "P-384" {
		t.Fatalf("p384 public key %T %q", pub, curve)
	}
	d384 := sha512.Sum384(msg)
	s := sign("p384", map[string]any{"hash_algorithm": "sha2-384"})
	if !ecdsa.VerifyASN1(ecPub, d384[:], signatureBytes(t, s, "vault:v1:", base64.StdEncoding)) {
		t.Fatal("p384 asn1 signature does not verify with crypto/ecdsa")
	}
	j := sign("p384", map[string]any{"hash_algorithm": "sha2-384", "marshaling_algorithm": "jws"})
	rs := signatureBytes(t, j, "vault:v1:", base64.RawURLEncoding)
	if len(rs) != 96 || !ecdsa.Verify(ecPub, d384[:], new(big.Int).SetBytes(rs[:48]), new(big.Int).SetBytes(rs[48:])) {
		t.Fatal("p384 jws signature does not verify with crypto/ecdsa")
	}
	if !valid("p384", map[string]any{"input": in, "signature": j, "hash_algorithm": "sha2-384", "marshaling_algorithm": "jws"}) ||
		valid("p384", map[string]any{"input": other, "signature": s, "hash_algorithm": "sha2-384"}) {
		t.Fatal("p384 verify: genuine refused or tampered accepted")
	}
	// prehashed ecdsa input of another size is signed as given, as in Vault.
	d32 := sha256.Sum256(msg)
	ps := write("transit/sign/p384", map[string]any{"input": base64.StdEncoding.EncodeToString(d32[:]), "prehashed": true, "hash_algorithm": "sha2-384"}).Data["signature"].(string)
	if !ecdsa.VerifyASN1(ecPub, d32[:], signatureBytes(t, ps, "vault:v1:", base64.StdEncoding)) {
		t.Fatal("prehashed p384 signature of a 32-byte digest does not verify")
	}
	if _, err := l.Write("transit/encrypt/p384", map[string]any{"plaintext": in}); status(err) != http.StatusBadRequest {
		t.Fatalf("encrypt with ecdsa-p384: %v", err)
	}

	// RSA: every size creates and reads with its modulus and name.
	for _, bits := range []int{2048, 3072, 4096} {
		name := fmt.Sprintf("rsa%d", bits)
		write("transit/keys/"+name, map[string]any{"type": fmt.Sprintf("rsa-%d", bits)})
		pub, kname := transitPublicKey(t, l, name, "1")
		rp, ok := pub.(*rsa.PublicKey)
		if !ok || rp.N.BitLen() != bits || kname != fmt.Sprintf("rsa-%d", bits) {
			t.Fatalf("%s public key %T %q", name, pub, kname)
		}
		sig := signatureBytes(t, sign(name, map[string]any{}), "vault:v1:", base64.StdEncoding)
		d := sha256.Sum256(msg)
		if len(sig) != bits/8 || rsa.VerifyPSS(rp, crypto.SHA256, d[:], sig, nil) != nil {
			t.Fatalf("%s: default (pss, sha2-256) signature does not verify with crypto/rsa", name)
		}
	}
	pub, _ = transitPublicKey(t, l, "rsa2048", "1")
	rp := pub.(*rsa.PublicKey)
	d256 := sha256.Sum256(msg)
	d512 := sha512.Sum512(msg)
	d3 := sha3.Sum256(msg)
	for _, c := range []struct {
		name  string
		data  map[string]any
		check func(sig []byte) error
	}{
		{"pkcs1v15 sha2-256", map[string]any{"signature_algorithm": "pkcs1v15"}, func(sig []byte) error {
			return rsa.VerifyPKCS1v15(rp, crypto.SHA256, d256[:], sig)
		}},
		{"pkcs1v15 sha2-512", map[string]any{"signature_algorithm": "pkcs1v15", "hash_algorithm": "sha2-512"}, func(sig []byte) error {
			return rsa.VerifyPKCS1v15(rp, crypto.SHA512, d512[:], sig)
		}},
		{"pss sha3-256", map[string]any{"hash_algorithm": "sha3-256"}, func(sig []byte) error {
			return rsa.VerifyPSS(rp, crypto.SHA3_256, d3[:], sig, nil)
		}},
		{"pkcs1v15 sha3-256", map[string]any{"signature_algorithm": "pkcs1v15", "hash_algorithm": "sha3-256"}, func(sig []byte) error {
			return rsa.VerifyPKCS1v15(rp, crypto.SHA3_256, d3[:], sig)
		}},
		{"pss salt hash", map[string]any{"salt_length": "hash"}, func(sig []byte) error {
			return rsa.VerifyPSS(rp, crypto.SHA256, d256[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}},
	} {
		data := map[string]any{}
		for k, v := range c.data {
			data[k] = v
		}
		sig := sign("rsa2048", data)
		if err := c.check(signatureBytes(t, sig, "vault:v1:", base64.StdEncoding)); err != nil {
			t.Fatalf("%s: crypto/rsa: %v", c.name, err)
		}
		verify := map[string]any{"input": in, "signature": sig}
		for k, v := range c.data {
			verify[k] = v
		}
		if !valid("rsa2048", verify) {
			t.Fatalf("%s: verify refused its own signature", c.name)
		}
		verify["input"] = other
		if valid("rsa2048", verify) {
			t.Fatalf("%s: verify accepted other input", c.name)
		}
	}
	// prehashed, and jws (base64url).
	pre := write("transit/sign/rsa2048", map[string]any{"input": base64.StdEncoding.EncodeToString(d512[:]), "prehashed": true, "hash_algorithm": "sha2-512"}).Data["signature"].(string)
	if rsa.VerifyPSS(rp, crypto.SHA512, d512[:], signatureBytes(t, pre, "vault:v1:", base64.StdEncoding), nil) != nil {
		t.Fatal("prehashed rsa signature does not verify")
	}
	if _, err := l.Write("transit/sign/rsa2048", map[string]any{"input": in, "prehashed": true}); status(err) != http.StatusBadRequest {
		t.Fatalf("prehashed input of the wrong size: %v", err)
	}
	jws := sign("rsa2048", map[string]any{"marshaling_algorithm": "jws", "signature_algorithm": "pkcs1v15"})
	if rsa.VerifyPKCS1v15(rp, crypto.SHA256, d256[:], signatureBytes(t, jws, "vault:v1:", base64.RawURLEncoding)) != nil {
		t.Fatal("rsa jws signature does not verify")
	}
	// A pss signature does not verify as pkcs1v15, nor the other way round.
	pss := sign("rsa2048", map[string]any{})
	if valid("rsa2048", map[string]any{"input": in, "signature": pss, "signature_algorithm": "pkcs1v15"}) ||
		valid("rsa2048", map[string]any{"input": in, "signature": jws, "marshaling_algorithm": "jws"}) {
		t.Fatal("signature verified under the other scheme")
	}
	for _, bad := range []map[string]any{
		{"input": in, "signature_algorithm": "pss2"},
		{"input": in, "signature_algorithm": "pkcs1v15", "salt_length": "hash"},
		{"input": in, "salt_length": "-1"},
	} {
		if _, err := l.Write("transit/sign/rsa2048", bad); status(err) != http.StatusBadRequest {
			t.Fatalf("sign %v: %v", bad, err)
		}
	}
	if _, err := l.Write("transit/sign/p384", map[string]any{"input": in, "signature_algorithm": "pss"}); status(err) != http.StatusBadRequest {
		t.Fatalf("signature_algorithm on ecdsa: %v", err)
	}

	// RSA encryption: OAEP with SHA-256 both ways, batches, rotation.
	secret := []byte("rsa-canary-3c9d")
	b64 := base64.StdEncoding.EncodeToString(secret)
	ct := write("transit/encrypt/rsa2048", map[string]any{"plaintext": b64}).Data["ciphertext"].(string)
	if got := write("transit/decrypt/rsa2048", map[string]any{"ciphertext": ct}).Data["plaintext"]; got != b64 {
		t.Fatalf("rsa round trip: %v", got)
	}
	local, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, rp, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := write("transit/decrypt/rsa2048", map[string]any{"ciphertext": "vault:v1:" + base64.StdEncoding.EncodeToString(local)}).Data["plaintext"]; got != b64 {
		t.Fatalf("locally OAEP-SHA256 encrypted ciphertext decrypts to %v", got)
	}
	res := write("transit/decrypt/rsa2048", map[string]any{"partial_failure_response_code": 207, "batch_input": []any{
		map[string]any{"ciphertext": ct, "reference": "ok"},
		map[string]any{"ciphertext": "vault:v1:" + base64.StdEncoding.EncodeToString(local[:len(local)-1]), "reference": "cut"},
	}}).Data["batch_results"].([]any)
	if res[0].(map[string]any)["plaintext"] != b64 || res[1].(map[string]any)["error"] == nil || res[1].(map[string]any)["reference"] != "cut" {
		t.Fatalf("rsa decrypt batch: %v", res)
	}
	if _, err := l.Write("transit/encrypt/rsa2048", map[string]any{"plaintext": b64, "associated_data": "YWFk"}); status(err) != http.StatusBadRequest {
		t.Fatalf("rsa with associated_data: %v", err)
	}
	write("transit/keys/rsa2048/rotate", nil)
	ct2 := write("transit/rewrap/rsa2048", map[string]any{"ciphertext": ct}).Data["ciphertext"].(string)
	if !strings.HasPrefix(ct2, "vault:v2:") || write("transit/decrypt/rsa2048", map[string]any{"ciphertext": ct2}).Data["plaintext"] != b64 {
		t.Fatalf("rsa rewrap: %q", ct2)
	}
	if info, _ := l.Read("transit/keys/rsa2048"); info.Data["supports_encryption"] != true || info.Data["supports_signing"] != true {
		t.Fatalf("rsa read: %v", info.Data)
	}

	// The hmac type: key_size, hmac and verify only.
	write("transit/keys/mac", map[string]any{"type": "hmac", "key_size": 64})
	m := write("transit/hmac/mac", map[string]any{"input": in}).Data["hmac"].(string)
	if !valid("mac", map[string]any{"input": in, "hmac": m}) || valid("mac", map[string]any{"input": other, "hmac": m}) {
		t.Fatal("hmac key: verify")
	}
	info, err := l.Read("transit/keys/mac")
	if err != nil || fmt.Sprint(info.Data["key_size"]) != "64" || info.Data["supports_encryption"] != false || info.Data["supports_signing"] != false {
		t.Fatalf("hmac key read: %v %v", info, err)
	}
	for path, data := range map[string]map[string]any{
		"transit/encrypt/mac":          {"plaintext": in},
		"transit/sign/mac":             {"input": in},
		"transit/datakey/wrapped/mac":  nil,
		"transit/keys/mac-small":       {"type": "hmac", "key_size": 16},
		"transit/keys/mac-big":         {"type": "hmac", "key_size": 513},
		"transit/keys/aes-size":        {"key_size": 64},
		"transit/keys/p521":            {"type": "ecdsa-p521"},
		"transit/encrypt/rsa-by-write": {"plaintext": in, "type": "rsa-2048"},
	} {
		if _, err := l.Write(path, data); status(err) != http.StatusBadRequest {
			t.Fatalf("%s %v: %v, want 400", path, data, err)
		}
	}
}
