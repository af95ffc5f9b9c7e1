package node_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// Data keys through the official Vault client: plaintext and wrapped
// variants, sizes, the ciphertext decrypting to the data key, versions and
// bad input refused.
func TestTransitDatakeyVaultClient(t *testing.T) {
	l, write, status := transitClient(t)
	write("transit/keys/d", nil)
	write("transit/keys/d/rotate", nil)

	s := write("transit/datakey/plaintext/d", nil)
	ct, pt := s.Data["ciphertext"].(string), s.Data["plaintext"].(string)
	raw, err := base64.StdEncoding.DecodeString(pt)
	if err != nil || len(raw) != 32 || !strings.HasPrefix(ct, "vault:v2:") || s.Data["key_version"] == nil {
		t.Fatalf("datakey plaintext: %v (%d bytes, %v)", s.Data, len(raw), err)
	}
	if got := write("transit/decrypt/d", map[string]any{"ciphertext": ct}).Data["plaintext"]; got != pt {
		t.Fatal("wrapped data key does not decrypt to the returned plaintext")
	}
	for bits, size := range map[int]int{128: 16, 256: 32, 512: 64} {
		s := write("transit/datakey/wrapped/d", map[string]any{"bits": bits, "key_version": 1})
		if s.Data["plaintext"] != nil {
			t.Fatalf("wrapped datakey returned its plaintext")
		}
		ct := s.Data["ciphertext"].(string)
		if !strings.HasPrefix(ct, "vault:v1:") {
			t.Fatalf("key_version 1: %q", ct)
		}
		dk, _ := base64.StdEncoding.DecodeString(write("transit/decrypt/d", map[string]any{"ciphertext": ct}).Data["plaintext"].(string))
		if len(dk) != size {
			t.Fatalf("bits %d: %d bytes", bits, len(dk))
		}
	}
	for path, data := range map[string]map[string]any{
		"transit/datakey/plaintext/d":    {"bits": 64},
		"transit/datakey/wrapped/d":      {"key_version": 3},
		"transit/datakey/other/d":        nil,
		"transit/datakey/plaintext/nope": nil,
	} {
		if _, err := l.Write(path, data); status(err) != http.StatusBadRequest {
			t.Fatalf("%s %v: %v", path, data, err)
		}
	}
	// A caller-chosen nonce is refused (convergent keys derive theirs).
	if _, err := l.Write("transit/datakey/wrapped/d", map[string]any{"nonce": "AAAAAAAAAAAAAAAA"}); status(err) != http.StatusBadRequest {
		t.Fatalf("nonce: %v", err)
	}
}
