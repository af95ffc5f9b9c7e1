package node_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// transitClient mounts transit on a fresh node and returns its logical
// client with helpers.
func transitClient(t *testing.T) (*vault.Logical, func(string, map[string]any) *vault.Secret, func(error) int) {
	t.Helper()
	n := nodetest.Start(t)
	c := n.Client(t)
	if err := c.Sys().Mount("transit", &vault.MountInput{Type: "transit"}); err != nil {
		t.Fatalf("mount: %v", err)
	}
	l := c.Logical()
	write := func(path string, data map[string]any) *vault.Secret {
		t.Helper()
		s, err := l.Write(path, data)
		if err != nil {
			t.Fatalf("write %s: %v", path, err)
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
	return l, write, status
}

// HMAC and verify through the official Vault client: algorithms, versions,
// tampered input or MAC, min_decryption_version, batches with a bad item.
func TestTransitHMACVaultClient(t *testing.T) {
	l, write, status := transitClient(t)
	in := base64.StdEncoding.EncodeToString([]byte("message"))
	write("transit/keys/h", nil)
	mac := func(path string, data map[string]any) string {
		t.Helper()
		return write(path, data).Data["hmac"].(string)
	}
	valid := func(data map[string]any) bool {
		t.Helper()
		return write("transit/verify/h", data).Data["valid"].(bool)
	}

	m1 := mac("transit/hmac/h", map[string]any{"input": in})
	if !strings.HasPrefix(m1, "vault:v1:") {
		t.Fatalf("hmac %q", m1)
	}
	if raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(m1, "vault:v1:")); len(raw) != 32 {
		t.Fatalf("sha2-256 hmac is %d bytes", len(raw))
	}
	if again := mac("transit/hmac/h", map[string]any{"input": in}); again != m1 {
		t.Fatalf("hmac not deterministic: %q %q", m1, again)
	}
	for alg, size := range map[string]int{"sha2-224": 28, "sha2-384": 48, "sha2-512": 64} {
		m := mac("transit/hmac/h/"+alg, map[string]any{"input": in})
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(m, "vault:v1:"))
		if len(raw) != size {
			t.Fatalf("%s hmac is %d bytes", alg, len(raw))
		}
		if m2 := mac("transit/hmac/h", map[string]any{"input": in, "algorithm": alg}); m2 != m {
			t.Fatalf("%s: path and field disagree", alg)
		}
		if !valid(map[string]any{"input": in, "hmac": m, "hash_algorithm": alg}) {
			t.Fatalf("%s hmac does not verify", alg)
		}
		if valid(map[string]any{"input": in, "hmac": m}) {
			t.Fatalf("%s hmac verifies as sha2-256", alg)
		}
	}
	if _, err := l.Write("transit/hmac/h/md5", map[string]any{"input": in}); status(err) != http.StatusBadRequest {
		t.Fatalf("md5: %v", err)
	}

	if !valid(map[string]any{"input": in, "hmac": m1}) {
		t.Fatal("hmac does not verify")
	}
	other := base64.StdEncoding.EncodeToString([]byte("messagf"))
	if valid(map[string]any{"input": other, "hmac": m1}) {
		t.Fatal("tampered input verifies")
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(m1, "vault:v1:"))
	raw[0] ^= 1
	if valid(map[string]any{"input": in, "hmac": "vault:v1:" + base64.StdEncoding.EncodeToString(raw)}) {
		t.Fatal("tampered hmac verifies")
	}
	if _, err := l.Write("transit/verify/h", map[string]any{"input": in, "hmac": "vault:v1:%%%"}); status(err) != http.StatusBadRequest {
		t.Fatalf("malformed hmac: %v", err)
	}

	// Rotation: v2 has its own HMAC key; v1 MACs still verify, relabelled
	// ones do not; versions above the latest are refused.
	write("transit/keys/h/rotate", nil)
	m2 := mac("transit/hmac/h", map[string]any{"input": in})
	if !strings.HasPrefix(m2, "vault:v2:") || strings.TrimPrefix(m2, "vault:v2:") == strings.TrimPrefix(m1, "vault:v1:") {
		t.Fatalf("v2 hmac %q (v1 %q)", m2, m1)
	}
	if m := mac("transit/hmac/h", map[string]any{"input": in, "key_version": 1}); m != m1 {
		t.Fatalf("key_version 1: %q, want %q", m, m1)
	}
	if !valid(map[string]any{"input": in, "hmac": m1}) {
		t.Fatal("v1 hmac after rotate")
	}
	if valid(map[string]any{"input": in, "hmac": "vault:v2:" + strings.TrimPrefix(m1, "vault:v1:")}) {
		t.Fatal("v1 mac relabelled v2 verifies")
	}
	if _, err := l.Write("transit/hmac/h", map[string]any{"input": in, "key_version": 3}); status(err) != http.StatusBadRequest {
		t.Fatalf("hmac key_version 3: %v", err)
	}
	if _, err := l.Write("transit/verify/h", map[string]any{"input": in, "hmac": "vault:v3:" + strings.TrimPrefix(m2, "vault:v2:")}); status(err) != http.StatusBadRequest {
		t.Fatalf("verify v3: %v", err)
	}
	write("transit/keys/h/config", map[string]any{"min_decryption_version": 2})
	if _, err := l.Write("transit/verify/h", map[string]any{"input": in, "hmac": m1}); status(err) != http.StatusBadRequest {
		t.Fatalf("verify below min_decryption_version: %v", err)
	}

	// Batches: a bad item fails alone.
	s := write("transit/hmac/h", map[string]any{"partial_failure_response_code": 200, "batch_input": []any{
		map[string]any{"input": in, "reference": "a"},
		map[string]any{"input": "not base64!", "reference": "b"},
	}})
	res := s.Data["batch_results"].([]any)
	a, b := res[0].(map[string]any), res[1].(map[string]any)
	if a["hmac"] != m2 || a["reference"] != "a" || b["error"] == nil || b["hmac"] != nil || b["reference"] != "b" {
		t.Fatalf("hmac batch: %v", res)
	}
	if _, err := l.Write("transit/hmac/h", map[string]any{"batch_input": []any{
		map[string]any{"input": in}, map[string]any{"input": "not base64!"},
	}}); status(err) != http.StatusBadRequest {
		t.Fatalf("hmac batch default status: %v", err)
	}
	s = write("transit/verify/h", map[string]any{"partial_failure_response_code": 200, "batch_input": []any{
		map[string]any{"input": in, "hmac": m2},
		map[string]any{"input": other, "hmac": m2},
		map[string]any{"input": in, "hmac": "garbage"},
	}})
	res = s.Data["batch_results"].([]any)
	if res[0].(map[string]any)["valid"] != true || res[1].(map[string]any)["valid"] != false || res[2].(map[string]any)["error"] == nil {
		t.Fatalf("verify batch: %v", res)
	}

	// A missing key is refused.
	if _, err := l.Write("transit/hmac/nope", map[string]any{"input": in}); status(err) != http.StatusBadRequest {
		t.Fatalf("hmac missing key: %v", err)
	}
}
