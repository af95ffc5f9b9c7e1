package pki

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// Tidy removes what expired longer ago than the safety buffer, and only
// that; the CRL loses the tidied revocation. A CRL past its NextUpdate is
// rebuilt when read.
func TestTidyAndCRLExpiry(t *testing.T) {
	clk := clocktest.New(time.Now())
	b := newBackend(clk.Now)
	s := &logicaltest.InmemStorage{}
	call(t, b, s, "root/generate/internal", map[string]any{"common_name": "Root", "key_type": "ec", "ttl": "8760h"})
	call(t, b, s, "roles/r", map[string]any{"allow_any_name": true, "key_type": "ec"})
	short := call(t, b, s, "issue/r", map[string]any{"common_name": "short.test", "ttl": "1h"})
	long := call(t, b, s, "issue/r", map[string]any{"common_name": "long.test", "ttl": "500h"})
	call(t, b, s, "revoke", map[string]any{"serial_number": short.Data["serial_number"]})
	call(t, b, s, "revoke", map[string]any{"serial_number": long.Data["serial_number"]})

	crlOf := func() *x509.RevocationList {
		t.Helper()
		r, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "crl", Storage: s})
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseRevocationList(r.Raw)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := crlOf()
	if len(first.RevokedCertificateEntries) != 2 {
		t.Fatalf("CRL has %d entries", len(first.RevokedCertificateEntries))
	}

	// 10h later: the short cert expired 9h ago, inside the 72h buffer.
	clk.Add(10 * time.Hour)
	call(t, b, s, "tidy", map[string]any{"tidy_cert_store": true, "tidy_revoked_certs": true})
	if st := b.tidyStatus; st["cert_store_deleted_count"] != 0 || st["revoked_cert_deleted_count"] != 0 {
		t.Fatalf("tidy inside the buffer deleted: %v", st)
	}
	// 100h later: past the buffer for the short cert only.
	clk.Add(90 * time.Hour)
	call(t, b, s, "tidy", map[string]any{"tidy_cert_store": true, "tidy_revoked_certs": true})
	if st := b.tidyStatus; st["cert_store_deleted_count"] != 1 || st["revoked_cert_deleted_count"] != 1 || st["state"] != "Finished" {
		t.Fatalf("tidy status %v", st)
	}
	if c, _ := loadCert(context.Background(), s, long.Data["serial_number"].(string)); c == nil {
		t.Fatal("tidy deleted an unexpired certificate")
	}
	after := crlOf()
	if len(after.RevokedCertificateEntries) != 1 || after.Number.Cmp(first.Number) <= 0 {
		t.Fatalf("CRL after tidy: %d entries, number %v", len(after.RevokedCertificateEntries), after.Number)
	}
	// Past NextUpdate (72h), reading rebuilds it.
	clk.Add(73 * time.Hour)
	if again := crlOf(); !again.NextUpdate.After(clk.Now()) || again.Number.Cmp(after.Number) <= 0 {
		t.Fatal("stale CRL not rebuilt on read")
	}
}
