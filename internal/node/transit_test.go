package node_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// Transit through the official Vault client: mount, round trip, rotation,
// min_decryption_version, rewrap, batch with a bad item, guarded delete,
// and a planted plaintext that never reaches the server's logs.
func TestTransitVaultClient(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	l := c.Logical()
	if err := c.Sys().Mount("transit", &vault.MountInput{Type: "transit"}); err != nil {
		t.Fatalf("mount: %v", err)
	}
	const canary = "canary-plaintext-7f3a9c1e"
	b64 := base64.StdEncoding.EncodeToString([]byte(canary))

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
	decrypt := func(ct string) (string, error) {
		s, err := l.Write("transit/decrypt/k", map[string]any{"ciphertext": ct})
		if err != nil {
			return "", err
		}
		pt, err := base64.StdEncoding.DecodeString(s.Data["plaintext"].(string))
		return string(pt), err
	}

	// First encrypt creates the key (aes256-gcm96).
	ct1 := write("transit/encrypt/k", map[string]any{"plaintext": b64}).Data["ciphertext"].(string)
	if !strings.HasPrefix(ct1, "vault:v1:") || strings.Contains(ct1, canary) {
		t.Fatalf("ciphertext %q", ct1)
	}
	if pt, err := decrypt(ct1); err != nil || pt != canary {
		t.Fatalf("decrypt: %q %v", pt, err)
	}
	info, err := l.Read("transit/keys/k")
	if err != nil || info.Data["type"] != "aes256-gcm96" || fmt.Sprint(info.Data["latest_version"]) != "1" {
		t.Fatalf("read key: %v %v", info, err)
	}

	// Rotate: old ciphertext still decrypts, new ciphertext says v2.
	write("transit/keys/k/rotate", nil)
	ct2 := write("transit/encrypt/k", map[string]any{"plaintext": b64}).Data["ciphertext"].(string)
	if !strings.HasPrefix(ct2, "vault:v2:") {
		t.Fatalf("after rotate: %q", ct2)
	}
	if pt, err := decrypt(ct1); err != nil || pt != canary {
		t.Fatalf("v1 after rotate: %q %v", pt, err)
	}

	// Rewrap moves v1 to v2 without returning the plaintext.
	rw := write("transit/rewrap/k", map[string]any{"ciphertext": ct1})
	re := rw.Data["ciphertext"].(string)
	if !strings.HasPrefix(re, "vault:v2:") || rw.Data["plaintext"] != nil {
		t.Fatalf("rewrap: %v", rw.Data)
	}
	if pt, err := decrypt(re); err != nil || pt != canary {
		t.Fatalf("rewrapped: %q %v", pt, err)
	}

	// min_decryption_version=2: v1 is refused, v2 still decrypts; the key's
	// read hides v1; a version above the latest is refused.
	write("transit/keys/k/config", map[string]any{"min_decryption_version": 2})
	if _, err := decrypt(ct1); status(err) != http.StatusBadRequest {
		t.Fatalf("v1 below min_decryption_version: %v", err)
	}
	if pt, err := decrypt(ct2); err != nil || pt != canary {
		t.Fatalf("v2: %q %v", pt, err)
	}
	if _, err := l.Write("transit/keys/k/config", map[string]any{"min_decryption_version": 3}); status(err) != http.StatusBadRequest {
		t.Fatalf("min_decryption_version above latest: %v", err)
	}
	info, _ = l.Read("transit/keys/k")
	if keys := info.Data["keys"].(map[string]any); len(keys) != 1 || keys["2"] == nil {
		t.Fatalf("keys after min_decryption_version: %v", keys)
	}

	// Batch with one bad item: per-item error, 400 by default as in Vault,
	// partial_failure_response_code when others succeed.
	batch := []any{
		map[string]any{"ciphertext": ct2, "reference": "good"},
		map[string]any{"ciphertext": "vault:v2:bm90IHJlYWw=", "reference": "bad"},
	}
	if _, err := l.Write("transit/decrypt/k", map[string]any{"batch_input": batch}); status(err) != http.StatusBadRequest {
		t.Fatalf("batch with a bad item, default status: %v", err)
	}
	s := write("transit/decrypt/k", map[string]any{"batch_input": batch, "partial_failure_response_code": 200})
	res := s.Data["batch_results"].([]any)
	good, bad := res[0].(map[string]any), res[1].(map[string]any)
	if good["error"] != nil || good["reference"] != "good" || bad["error"] == nil || bad["reference"] != "bad" || bad["plaintext"] != nil {
		t.Fatalf("batch results: %v", res)
	}
	if pt, _ := base64.StdEncoding.DecodeString(good["plaintext"].(string)); string(pt) != canary {
		t.Fatalf("batch plaintext %q", pt)
	}
	enc := write("transit/encrypt/k", map[string]any{"batch_input": []any{
		map[string]any{"plaintext": b64}, map[string]any{"plaintext": b64},
	}}).Data["batch_results"].([]any)
	if len(enc) != 2 || !strings.HasPrefix(enc[1].(map[string]any)["ciphertext"].(string), "vault:v2:") {
		t.Fatalf("batch encrypt: %v", enc)
	}

	// chacha20-poly1305 key created explicitly; LIST names both.
	write("transit/keys/c", map[string]any{"type": "chacha20-poly1305", "exportable": true})
	cct := write("transit/encrypt/c", map[string]any{"plaintext": b64}).Data["ciphertext"].(string)
	if s := write("transit/decrypt/c", map[string]any{"ciphertext": cct}); s.Data["plaintext"] != b64 {
		t.Fatalf("chacha20 round trip: %v", s.Data)
	}
	if _, err := l.Write("transit/keys/c/config", map[string]any{"exportable": false}); status(err) != http.StatusBadRequest {
		t.Fatalf("exportable turned off: %v", err)
	}
	list, err := l.List("transit/keys")
	if err != nil || len(list.Data["keys"].([]any)) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}

	// Delete is refused until deletion_allowed.
	if _, err := l.Delete("transit/keys/k"); status(err) != http.StatusBadRequest {
		t.Fatalf("delete without deletion_allowed: %v", err)
	}
	write("transit/keys/k/config", map[string]any{"deletion_allowed": true})
	if _, err := l.Delete("transit/keys/k"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if s, err := l.Read("transit/keys/k"); err != nil || s != nil {
		t.Fatalf("read deleted key: %v %v", s, err)
	}

	// Random and hash.
	r := write("transit/random/16", map[string]any{"format": "hex"}).Data["random_bytes"].(string)
	if len(r) != 32 {
		t.Fatalf("random hex %q", r)
	}
	h := write("transit/hash/sha2-256", map[string]any{"input": base64.StdEncoding.EncodeToString([]byte("abc"))}).Data["sum"]
	if h != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("sha2-256(abc) = %v", h)
	}

	// The planted plaintext, raw or base64, never reached the logs.
	logs := n.Logs.String()
	if strings.Contains(logs, canary) || strings.Contains(logs, b64) {
		t.Fatal("plaintext found in server logs")
	}
}
