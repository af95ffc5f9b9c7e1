package filecrypt_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/filecrypt"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// TestTransitKeyGroup: against a real server with the transit engine
// mounted, a file encrypted for a transit key and an age recipient in two
// groups with a threshold of 2 needs both; the transit ciphertext is the
// server's vault:v1: format; after the transit key is rotated and the file
// rotated, the new wrapping uses version 2.
func TestTransitKeyGroup(t *testing.T) {
	n := nodetest.Start(t)
	c, err := api.New(api.Config{Address: n.URL, Token: api.NewToken(n.RootToken.Reveal())})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.Write(ctx, "sys/mounts/transit", map[string]any{"type": "transit"}); err != nil {
		t.Fatalf("mount transit: %v", err)
	}
	if _, err := c.Write(ctx, "transit/keys/gitops", nil); err != nil {
		t.Fatalf("create key: %v", err)
	}
	transit := func(string) (filecrypt.TransitClient, error) { return c, nil }
	tk := filecrypt.TransitKey{Address: n.URL, Key: "gitops"}
	plain := []byte("database:\n  password: s3cr3t-transit-canary\n")

	one := filecrypt.Settings{Groups: []filecrypt.Group{{Transit: []filecrypt.TransitKey{tk}}}}
	enc, err := filecrypt.Encrypt(ctx, "db.yaml", plain, one, filecrypt.Options{Keys: filecrypt.Keys{Transit: transit}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(enc, []byte("ciphertext: vault:v1:")) || bytes.Contains(enc, []byte("s3cr3t-transit-canary")) {
		t.Fatalf("encrypted file:\n%s", enc)
	}
	got, err := filecrypt.Decrypt(ctx, "db.yaml", enc, filecrypt.Options{Keys: filecrypt.Keys{Transit: transit}})
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
	if _, err := filecrypt.Decrypt(ctx, "db.yaml", enc, filecrypt.Options{}); err == nil || !strings.Contains(err.Error(), "transit "+n.URL+" transit/keys/gitops") {
		t.Fatalf("Decrypt(no server client) = %v, want an error naming the transit key", err)
	}

	if _, err := c.Write(ctx, "transit/keys/gitops/rotate", nil); err != nil {
		t.Fatal(err)
	}
	rot, err := filecrypt.Rotate(ctx, "db.yaml", enc, filecrypt.Options{Keys: filecrypt.Keys{Transit: transit}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(rot, []byte("ciphertext: vault:v2:")) {
		t.Fatalf("rotated file does not use transit key version 2:\n%s", rot)
	}

	// A revoked token cannot decrypt any more.
	if _, err := c.Write(context.Background(), "auth/token/revoke-self", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := filecrypt.Decrypt(ctx, "db.yaml", rot, filecrypt.Options{Keys: filecrypt.Keys{Transit: transit}}); err == nil {
		t.Fatal("Decrypt with a revoked token succeeded")
	}
}
