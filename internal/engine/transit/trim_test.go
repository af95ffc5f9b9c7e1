package transit

import (
	"bytes"
	"context"
	"encoding/base64"
	"testing"

	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// Trimmed versions leave storage: neither their material nor their HMAC
// key is in the stored record afterwards.
func TestTrimDeletesFromStorage(t *testing.T) {
	ctx := context.Background()
	s := &logicaltest.InmemStorage{}
	b := newBackend(testNow)
	if _, err := write(t, b, s, "keys/k", nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := write(t, b, s, "keys/k/rotate", nil); err != nil {
			t.Fatal(err)
		}
	}
	k, err := loadKey(ctx, s, "k")
	if err != nil {
		t.Fatal(err)
	}
	old := [][]byte{k.Versions["1"].Material, k.Versions["1"].HMACKey, k.Versions["2"].Material}
	if _, err := write(t, b, s, "keys/k/config", map[string]any{"min_decryption_version": 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := write(t, b, s, "keys/k/trim", map[string]any{"min_available_version": 3}); err != nil {
		t.Fatal(err)
	}
	raw, err := s.Get(ctx, keyPrefix+"k")
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range old {
		if bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(m))) {
			t.Fatalf("trimmed secret %d still stored", i)
		}
	}
	if k, _ = loadKey(ctx, s, "k"); len(k.Versions) != 1 || k.Versions["3"].Material == nil {
		t.Fatalf("versions after trim: %d", len(k.Versions))
	}
}
