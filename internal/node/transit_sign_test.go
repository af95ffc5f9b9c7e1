package node_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"testing"
)

// Signing keys through the official Vault client: ed25519 and ecdsa-p256
// create, rotate, read (public keys), sign and verify, each signature also
// checked with crypto/ed25519 or crypto/ecdsa against the public key the
// read returned; tampering, versions, batches and encryption refused.
func TestTransitSignVaultClient(t *testing.T) {
	l, write, status := transitClient(t)
	msg := []byte("sign me")
	in := base64.StdEncoding.EncodeToString(msg)
	other := base64.StdEncoding.EncodeToString([]byte("sign mf"))
	pubKey := func(name, version string) (string, string) {
		t.Helper()
		s, err := l.Read("transit/keys/" + name)
		if err != nil || s == nil {
			t.Fatalf("read %s: %v", name, err)
		}
		if s.Data["supports_signing"] != true || s.Data["supports_encryption"] != false {
			t.Fatalf("read %s: %v", name, s.Data)
		}
		kv, ok := s.Data["keys"].(map[string]any)[version].(map[string]any)
		if !ok {
			t.Fatalf("read %s: no version %s: %v", name, version, s.Data["keys"])
		}
		return kv["public_key"].(string), kv["name"].(string)
	}
	sigBytes := func(sig, prefix string, enc *base64.Encoding) []byte {
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
	valid := func(name string, data map[string]any) bool {
		t.Helper()
		return write("transit/verify/"+name, data).Data["valid"].(bool)
	}
	refused := func(path string, data map[string]any) {
		t.Helper()
		if _, err := l.Write(path, data); status(err) != http.StatusBadRequest {
			t.Fatalf("%s %v: %v, want 400", path, data, err)
		}
	}

	// ed25519.
	write("transit/keys/ed", map[string]any{"type": "ed25519"})
	pub1, curve := pubKey("ed", "1")
	raw1, err := base64.StdEncoding.DecodeString(pub1)
	if err != nil || len(raw1) != ed25519.PublicKeySize || curve != "ed25519" {
		t.Fatalf("ed25519 public key %q %q %v", pub1, curve, err)
	}
	sig1 := write("transit/sign/ed", map[string]any{"input": in}).Data["signature"].(string)
	if !ed25519.Verify(raw1, msg, sigBytes(sig1, "vault:v1:", base64.StdEncoding)) {
		t.Fatal("ed25519 signature does not verify with crypto/ed25519")
	}
	if !valid("ed", map[string]any{"input": in, "signature": sig1}) || valid("ed", map[string]any{"input": other, "signature": sig1}) {
		t.Fatal("ed25519 verify: genuine refused or tampered input accepted")
	}
	bad := sigBytes(sig1, "vault:v1:", base64.StdEncoding)
	bad[5] ^= 1
	if valid("ed", map[string]any{"input": in, "signature": "vault:v1:" + base64.StdEncoding.EncodeToString(bad)}) {
		t.Fatal("tampered ed25519 signature verifies")
	}
	write("transit/keys/ed/rotate", nil)
	pub2, _ := pubKey("ed", "2")
	raw2, _ := base64.StdEncoding.DecodeString(pub2)
	sig2 := write("transit/sign/ed", map[string]any{"input": in}).Data["signature"].(string)
	if pub2 == pub1 || !ed25519.Verify(raw2, msg, sigBytes(sig2, "vault:v2:", base64.StdEncoding)) {
		t.Fatal("ed25519 v2 signature does not verify with the v2 public key")
	}
	if !valid("ed", map[string]any{"input": in, "signature": sig1}) {
		t.Fatal("v1 signature after rotate")
	}
	if valid("ed", map[string]any{"input": in, "signature": "vault:v2:" + strings.TrimPrefix(sig1, "vault:v1:")}) {
		t.Fatal("v1 signature relabelled v2 verifies")
	}
	if s := write("transit/sign/ed", map[string]any{"input": in, "key_version": 1}).Data["signature"].(string); !strings.HasPrefix(s, "vault:v1:") {
		t.Fatalf("key_version 1: %q", s)
	}
	refused("transit/sign/ed", map[string]any{"input": in, "key_version": 3})
	refused("transit/verify/ed", map[string]any{"input": in, "signature": "vault:v3:" + strings.TrimPrefix(sig2, "vault:v2:")})
	refused("transit/sign/ed", map[string]any{"input": in, "prehashed": true})
	refused("transit/verify/ed", map[string]any{"input": in, "signature": sig1, "hmac": sig1})
	write("transit/keys/ed/config", map[string]any{"min_decryption_version": 2})
	refused("transit/verify/ed", map[string]any{"input": in, "signature": sig1})

	// Encryption with signing keys is refused clearly.
	for path, data := range map[string]map[string]any{"transit/encrypt/ed": {"plaintext": in}, "transit/datakey/plaintext/ed": nil} {
		_, err := l.Write(path, data)
		if status(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "does not support encryption") {
			t.Fatalf("%s: %v", path, err)
		}
	}
	refused("transit/decrypt/ed", map[string]any{"ciphertext": sig2})
	refused("transit/encrypt/newsig", map[string]any{"plaintext": in, "type": "ed25519"})
	write("transit/keys/aes", nil)
	refused("transit/sign/aes", map[string]any{"input": in})

	// ecdsa-p256: asn1 (default) and jws, prehashed, sha2-512.
	write("transit/keys/ec", map[string]any{"type": "ecdsa-p256"})
	pemKey, curve := pubKey("ec", "1")
	block, _ := pem.Decode([]byte(pemKey))
	if block == nil || curve != "P-256" {
		t.Fatalf("ecdsa public key %q %q", pemKey, curve)
	}
	parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("parse ecdsa public key: %v", err)
	}
	ecPub := parsed.(*ecdsa.PublicKey)
	d256 := sha256.Sum256(msg)
	asn := write("transit/sign/ec", map[string]any{"input": in}).Data["signature"].(string)
	if !ecdsa.VerifyASN1(ecPub, d256[:], sigBytes(asn, "vault:v1:", base64.StdEncoding)) {
		t.Fatal("ecdsa asn1 signature does not verify with crypto/ecdsa")
	}
	jws := write("transit/sign/ec", map[string]any{"input": in, "marshaling_algorithm": "jws"}).Data["signature"].(string)
	rs := sigBytes(jws, "vault:v1:", base64.RawURLEncoding)
	if len(rs) != 64 || !ecdsa.Verify(ecPub, d256[:], new(big.Int).SetBytes(rs[:32]), new(big.Int).SetBytes(rs[32:])) {
		t.Fatal("ecdsa jws signature does not verify with crypto/ecdsa")
	}
	d512 := sha512.Sum512(msg)
	s512 := write("transit/sign/ec/sha2-512", map[string]any{"input": in}).Data["signature"].(string)
	if !ecdsa.VerifyASN1(ecPub, d512[:], sigBytes(s512, "vault:v1:", base64.StdEncoding)) {
		t.Fatal("ecdsa sha2-512 signature does not verify")
	}
	pre := write("transit/sign/ec", map[string]any{"input": base64.StdEncoding.EncodeToString(d256[:]), "prehashed": true}).Data["signature"].(string)
	if !ecdsa.VerifyASN1(ecPub, d256[:], sigBytes(pre, "vault:v1:", base64.StdEncoding)) {
		t.Fatal("prehashed ecdsa signature does not verify")
	}
	for _, c := range []struct {
		data map[string]any
		want bool
	}{
		{map[string]any{"input": in, "signature": asn}, true},
		{map[string]any{"input": other, "signature": asn}, false},
		{map[string]any{"input": in, "signature": jws, "marshaling_algorithm": "jws"}, true},
		{map[string]any{"input": other, "signature": jws, "marshaling_algorithm": "jws"}, false},
		{map[string]any{"input": in, "signature": s512, "hash_algorithm": "sha2-512"}, true},
		{map[string]any{"input": in, "signature": s512}, false},
		{map[string]any{"input": base64.StdEncoding.EncodeToString(d256[:]), "signature": pre, "prehashed": true}, true},
		{map[string]any{"input": in, "signature": pre}, true},
	} {
		if got := valid("ec", c.data); got != c.want {
			t.Fatalf("verify %v: %v, want %v", c.data, got, c.want)
		}
	}
	refused("transit/sign/ec", map[string]any{"input": in, "marshaling_algorithm": "der"})

	// Batches: a bad item fails alone.
	s := write("transit/sign/ec", map[string]any{"partial_failure_response_code": 200, "batch_input": []any{
		map[string]any{"input": in, "reference": "a"},
		map[string]any{"input": "not base64!", "reference": "b"},
	}})
	res := s.Data["batch_results"].([]any)
	a, b := res[0].(map[string]any), res[1].(map[string]any)
	if a["reference"] != "a" || b["error"] == nil || b["signature"] != nil || b["reference"] != "b" {
		t.Fatalf("sign batch: %v", res)
	}
	if !ecdsa.VerifyASN1(ecPub, d256[:], sigBytes(a["signature"].(string), "vault:v1:", base64.StdEncoding)) {
		t.Fatal("batch signature does not verify")
	}
	if _, err := l.Write("transit/sign/ec", map[string]any{"batch_input": []any{
		map[string]any{"input": in}, map[string]any{"input": "not base64!"},
	}}); status(err) != http.StatusBadRequest {
		t.Fatalf("sign batch default status: %v", err)
	}
	s = write("transit/verify/ec", map[string]any{"partial_failure_response_code": 200, "batch_input": []any{
		map[string]any{"input": in, "signature": asn},
		map[string]any{"input": other, "signature": asn},
		map[string]any{"input": in, "signature": "vault:v1:%%%"},
	}})
	res = s.Data["batch_results"].([]any)
	if res[0].(map[string]any)["valid"] != true || res[1].(map[string]any)["valid"] != false || res[2].(map[string]any)["error"] == nil {
		t.Fatalf("verify batch: %v", res)
	}
}
