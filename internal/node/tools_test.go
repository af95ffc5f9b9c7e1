package node_test

import (
	"crypto/sha256"
	"crypto/sha3"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// sys/tools/random and sys/tools/hash through the official Vault client:
// sizes and encodings, digests checked against the standard library, the
// default policy granting hash but not random, and no transit key path
// reachable under sys/tools.
func TestSysToolsVaultClient(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	l := c.Logical()
	status := func(err error) int {
		var re *vault.ResponseError
		if errors.As(err, &re) {
			return re.StatusCode
		}
		return 0
	}

	s, err := l.Write("sys/tools/random", nil)
	if err != nil {
		t.Fatalf("random: %v", err)
	}
	b, err := base64.StdEncoding.DecodeString(s.Data["random_bytes"].(string))
	if err != nil || len(b) != 32 {
		t.Fatalf("random default: %d bytes, %v", len(b), err)
	}
	s, err = l.Write("sys/tools/random/16", map[string]any{"format": "hex"})
	if err != nil {
		t.Fatalf("random/16: %v", err)
	}
	if b, err := hex.DecodeString(s.Data["random_bytes"].(string)); err != nil || len(b) != 16 {
		t.Fatalf("random/16 hex: %q %v", s.Data["random_bytes"], err)
	}
	s2, err := l.Write("sys/tools/random/16", map[string]any{"format": "hex"})
	if err != nil || s2.Data["random_bytes"] == s.Data["random_bytes"] {
		t.Fatalf("two random reads equal or failed: %v", err)
	}
	if _, err := l.Write("sys/tools/random", map[string]any{"bytes": 1 << 20}); status(err) != http.StatusBadRequest {
		t.Fatalf("random of 1 MiB: %v, want 400", err)
	}

	in := []byte("keyward tools input")
	b64 := base64.StdEncoding.EncodeToString(in)
	sum := sha256.Sum256(in)
	s, err = l.Write("sys/tools/hash", map[string]any{"input": b64})
	if err != nil || s.Data["sum"] != hex.EncodeToString(sum[:]) {
		t.Fatalf("hash sha2-256: %v %v, want %x", s, err, sum)
	}
	sum3 := sha3.Sum512(in)
	s, err = l.Write("sys/tools/hash/sha3-512", map[string]any{"input": b64, "format": "base64"})
	if err != nil || s.Data["sum"] != base64.StdEncoding.EncodeToString(sum3[:]) {
		t.Fatalf("hash sha3-512: %v %v", s, err)
	}
	if _, err := l.Write("sys/tools/hash/md5", map[string]any{"input": b64}); status(err) != http.StatusBadRequest {
		t.Fatalf("hash md5: %v, want 400", err)
	}

	// Only the tools: transit's key paths are not served under sys/tools.
	for _, p := range []string{"sys/tools/keys/k", "sys/tools/encrypt/k", "sys/tools/random/16/extra"} {
		if _, err := l.Write(p, map[string]any{"plaintext": b64}); status(err) != http.StatusNotFound {
			t.Errorf("write %s: %v, want 404", p, err)
		}
	}

	// Help comes from the transit declaration of the tool.
	h, err := c.Help("sys/tools/hash")
	if err != nil || !strings.Contains(h.Help, "Hash") {
		t.Errorf("help sys/tools/hash: %+v %v", h, err)
	}

	// The default policy allows hash, not random (Vault's builtin).
	tok, err := c.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	dc, err := c.Clone()
	if err != nil {
		t.Fatal(err)
	}
	dc.SetToken(tok.Auth.ClientToken)
	if _, err := dc.Logical().Write("sys/tools/hash/sha2-512", map[string]any{"input": b64}); err != nil {
		t.Errorf("hash with the default policy: %v", err)
	}
	if _, err := dc.Logical().Write("sys/tools/random", nil); status(err) != http.StatusForbidden {
		t.Errorf("random with the default policy: %v, want 403", err)
	}
}
