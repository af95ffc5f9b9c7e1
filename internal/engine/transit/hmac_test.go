package transit

import (
	"bytes"
	"context"
	"encoding/base64"
	"testing"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// A key stored before hmac was served has no HMAC keys: the first hmac
// gives each version one and stores it, so later HMACs match, and the HMAC
// key differs from the encryption key.
func TestKeyHMACKeyLazy(t *testing.T) {
	ctx := context.Background()
	s := &logicaltest.InmemStorage{}
	k, err := newKey("old", typeAES256GCM96, testNow())
	if err != nil {
		t.Fatal(err)
	}
	if err := k.rotate(testNow()); err != nil {
		t.Fatal(err)
	}
	for name, kv := range k.Versions {
		kv.HMACKey = nil
		k.Versions[name] = kv
	}
	if err := storeKey(ctx, s, k); err != nil {
		t.Fatal(err)
	}
	be, err := Factory(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := base64.StdEncoding.EncodeToString([]byte("data"))
	mac := func(version int) string {
		t.Helper()
		resp, err := be.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: "hmac/old",
			Data: map[string]any{"input": in, "key_version": version}, Storage: s})
		if err != nil {
			t.Fatalf("hmac v%d: %v", version, err)
		}
		return resp.Data["hmac"].(string)
	}
	first := mac(1)
	stored, err := loadKey(ctx, s, "old")
	if err != nil {
		t.Fatal(err)
	}
	for name, kv := range stored.Versions {
		if len(kv.HMACKey) != 32 || bytes.Equal(kv.HMACKey, kv.Material) {
			t.Fatalf("version %s: hmac key not stored or equal to the encryption key", name)
		}
	}
	if again := mac(1); again != first {
		t.Fatalf("hmac changed after the lazy key was stored: %q then %q", first, again)
	}
	if mac(2) == first {
		t.Fatal("versions 1 and 2 share an hmac")
	}
}
