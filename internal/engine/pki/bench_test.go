package pki

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

func benchMount(b *testing.B, rootType string) (*backend, logical.Storage) {
	b.Helper()
	be := newBackend(time.Now)
	s := &logicaltest.InmemStorage{}
	call(b, be, s, "root/generate/internal", map[string]any{"common_name": "Bench Root", "key_type": rootType, "ttl": "8760h"})
	return be, s
}

func call(tb testing.TB, be *backend, s logical.Storage, path string, data map[string]any) *logical.Response {
	tb.Helper()
	resp, err := be.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: path, Data: data, Storage: s})
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return resp
}

// Issue (key generation, name checks, signing with an EC P-256 issuer,
// storing the certificate) per leaf key type, without HTTP.
func BenchmarkIssue(b *testing.B) {
	be, s := benchMount(b, "ec")
	for _, kt := range []struct {
		name, typ string
		bits      int
	}{{"ed25519", "ed25519", 0}, {"ec-p256", "ec", 256}, {"rsa-2048", "rsa", 2048}} {
		call(b, be, s, "roles/"+kt.name, map[string]any{"allowed_domains": "example.com", "allow_subdomains": true,
			"key_type": kt.typ, "key_bits": kt.bits, "ttl": "1h"})
		b.Run(kt.name, func(b *testing.B) {
			for b.Loop() {
				call(b, be, s, "issue/"+kt.name, map[string]any{"common_name": "www.example.com"})
			}
		})
	}
}

// Building the full CRL of an issuer with 100,000 revoked certificates
// (reading every revocation from storage, sorting, signing).
func BenchmarkCRLBuild100k(b *testing.B) {
	be, s := benchMount(b, "ec")
	ctx := context.Background()
	iss, err := resolveIssuer(ctx, s, "default")
	if err != nil || iss == nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range 100_000 {
		n, err := newSerial()
		if err != nil {
			b.Fatal(err)
		}
		serial := formatSerial(n)
		r := revocation{Serial: serial, RevokedAt: now, IssuerID: iss.ID, NotAfter: now.Add(time.Hour)}
		if err := logical.PutJSON(ctx, s, "revoked/"+storageSerial(serial), r); err != nil {
			b.Fatal(fmt.Errorf("entry %d: %w", i, err))
		}
	}
	for b.Loop() {
		be.mu.Lock()
		err := be.buildCRL(ctx, s, iss, false)
		be.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}
