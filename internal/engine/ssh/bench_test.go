package ssh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// BenchmarkSign is the cost of one sign/ROLE through the backend (role and
// CA loaded from storage, principal checks, signature), without HTTP, the
// barrier or audit, for each CA key type.
func BenchmarkSign(b *testing.B) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	sp, _ := ssh.NewPublicKey(pub)
	line := string(ssh.MarshalAuthorizedKey(sp))
	for _, c := range []struct{ name, typ, bits string }{
		{"ca=ed25519", "ed25519", ""},
		{"ca=ecdsa-p256", "ec", "256"},
		{"ca=rsa-2048", "rsa", "2048"},
		{"ca=rsa-4096", "rsa", "4096"},
	} {
		ctx := context.Background()
		be := newBackend(time.Now)
		st := &logicaltest.InmemStorage{}
		do := func(op logical.Operation, path string, data map[string]any) *logical.Response {
			resp, err := be.HandleRequest(ctx, &logical.Request{Operation: op, Path: path, Data: data, Storage: st,
				MountConfig: logical.MountConfig{DefaultLeaseTTL: time.Hour, MaxLeaseTTL: 24 * time.Hour}})
			if err != nil {
				b.Fatalf("%s %s: %v", op, path, err)
			}
			return resp
		}
		ca := map[string]any{"key_type": c.typ}
		if c.bits != "" {
			ca["key_bits"] = c.bits
		}
		do(logical.UpdateOperation, "config/ca", ca)
		do(logical.UpdateOperation, "roles/ops", map[string]any{"key_type": "ca", "allow_user_certificates": true, "allowed_users": "ops,deploy", "ttl": "1h"})
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				do(logical.UpdateOperation, "sign/ops", map[string]any{"public_key": line, "valid_principals": "ops"})
			}
		})
	}
}
