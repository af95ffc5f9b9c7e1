package cert_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"

	"github.com/keyward/keyward/internal/auth/cert"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

type fixture struct {
	b *cert.Backend
	s *logicaltest.InmemStorage
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	s := &logicaltest.InmemStorage{}
	b, err := cert.New(context.Background(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{b: b, s: s}
}

func (f *fixture) must(t testing.TB, path string, data map[string]any) {
	t.Helper()
	if _, err := f.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: path, Data: data}); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

func withPeers(chain ...*x509.Certificate) *logical.Request {
	return &logical.Request{Operation: logical.UpdateOperation, Path: "login",
		Connection: &logical.Connection{RemoteAddr: "127.0.0.1", TLS: &tls.ConnectionState{PeerCertificates: chain}}}
}

func (f *fixture) login(chain ...*x509.Certificate) (*logical.Response, error) {
	return f.b.HandleRequest(context.Background(), withPeers(chain...))
}

func TestLoginConstraints(t *testing.T) {
	ca := newCA(t, "ci-ca")
	other := newCA(t, "other-ca")
	f := newFixture(t)
	f.must(t, "certs/spiffe", map[string]any{
		"certificate": ca.pem(), "token_policies": "workload",
		"allowed_uri_sans": "spiffe://example.org/ns/prod/sa/*", "allowed_organizational_units": "ci",
	})
	f.must(t, "certs/builders", map[string]any{
		"certificate": ca.pem(), "token_policies": "build",
		"allowed_common_names": "builder-*", "allowed_dns_sans": "*.build.example.org",
	})
	good, _ := ca.issue(t, leafOpts{cn: "w", ous: []string{"ci"}, uris: []string{"spiffe://example.org/ns/prod/sa/deployer"}})
	builder, _ := ca.issue(t, leafOpts{cn: "builder-7", dns: []string{"b7.build.example.org"}})
	tests := []struct {
		name   string
		leaf   *x509.Certificate
		policy string // "" means refused
	}{
		{"spiffe id matches", good, "workload"},
		{"builder matches cn and dns", builder, "build"},
		{"deeper spiffe path", first(ca.issue(t, leafOpts{ous: []string{"ci"}, uris: []string{"spiffe://example.org/ns/prod/sa/x/y"}})), ""},
		{"other trust domain", first(ca.issue(t, leafOpts{ous: []string{"ci"}, uris: []string{"spiffe://evil.org/ns/prod/sa/x"}})), ""},
		{"wrong ou", first(ca.issue(t, leafOpts{ous: []string{"dev"}, uris: []string{"spiffe://example.org/ns/prod/sa/x"}})), ""},
		{"cn ok, dns wrong", first(ca.issue(t, leafOpts{cn: "builder-1", dns: []string{"b1.evil.org"}})), ""},
		{"server-only usage", first(ca.issue(t, leafOpts{cn: "builder-1", dns: []string{"a.build.example.org"}, usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})), ""},
		{"expired", first(ca.issue(t, leafOpts{cn: "builder-1", dns: []string{"a.build.example.org"}, expired: true})), ""},
		{"untrusted CA", first(other.issue(t, leafOpts{cn: "builder-1", dns: []string{"a.build.example.org"}})), ""},
		{"self-signed lookalike", first((*issuer)(nil).issue(t, leafOpts{cn: "builder-1", dns: []string{"a.build.example.org"}})), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := f.login(tt.leaf)
			if tt.policy == "" {
				if err == nil {
					t.Fatalf("login succeeded with policies %v", resp.Auth.Policies)
				}
				if code, _, _ := logical.StatusOf(err); code != http.StatusForbidden {
					t.Errorf("status %d, want 403", code)
				}
				return
			}
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if resp.Auth.Policies[0] != tt.policy || !resp.Auth.Renewable {
				t.Errorf("auth = %+v", resp.Auth)
			}
		})
	}
	if _, err := f.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: "login"}); err == nil {
		t.Error("login without a TLS connection succeeded")
	}
}

func first(c *x509.Certificate, _ tls.Certificate) *x509.Certificate { return c }

// T27: a pinned non-CA certificate matches only its own DER.
func TestCertPinnedByDER(t *testing.T) {
	f := newFixture(t)
	pinned, _ := (*issuer)(nil).issue(t, leafOpts{cn: "deploy-bot", serial: 4242})
	f.must(t, "certs/bot", map[string]any{"certificate": toPEM(pinned), "token_policies": "bot"})
	if _, err := f.login(pinned); err != nil {
		t.Fatalf("pinned cert refused: %v", err)
	}
	attacker, _ := (*issuer)(nil).issue(t, leafOpts{cn: "deploy-bot", serial: 4242})
	if attacker.Subject.String() != pinned.Subject.String() || attacker.SerialNumber.Cmp(pinned.SerialNumber) != 0 {
		t.Fatal("test setup: attacker cert differs in subject or serial")
	}
	if _, err := f.login(attacker); err == nil {
		t.Fatal("attacker certificate with the same subject and serial but another key was accepted")
	}
}

func TestCRLAndRestart(t *testing.T) {
	ca := newCA(t, "ca")
	f := newFixture(t)
	f.must(t, "certs/ca", map[string]any{"certificate": ca.pem()})
	leaf, _ := ca.issue(t, leafOpts{cn: "a"})
	keep, _ := ca.issue(t, leafOpts{cn: "b"})
	f.must(t, "crls/ca", map[string]any{"crl": ca.crl(t, leaf)})
	if _, err := f.login(leaf); err == nil {
		t.Fatal("revoked certificate accepted")
	}
	// A fresh backend over the same storage (a restart) loads the CRL.
	b2, err := cert.New(context.Background(), f.s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b2.HandleRequest(context.Background(), withPeers(leaf)); err == nil {
		t.Fatal("revoked certificate accepted right after restart")
	}
	if _, err := b2.HandleRequest(context.Background(), withPeers(keep)); err != nil {
		t.Fatalf("unrevoked certificate refused: %v", err)
	}
	if _, err := f.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.DeleteOperation, Path: "crls/ca"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login(leaf); err != nil {
		t.Fatalf("after removing the CRL: %v", err)
	}
}

// T27: renewal must present the certificate that logged in.
func TestRenewAuthBinding(t *testing.T) {
	ca := newCA(t, "ca")
	f := newFixture(t)
	f.must(t, "certs/ca", map[string]any{"certificate": ca.pem()})
	a, _ := ca.issue(t, leafOpts{cn: "a"})
	b, _ := ca.issue(t, leafOpts{cn: "b"})
	resp, err := f.login(a)
	if err != nil {
		t.Fatal(err)
	}
	meta := resp.Auth.Metadata
	ctx := context.Background()
	if err := f.b.RenewAuth(ctx, withPeers(a), meta); err != nil {
		t.Errorf("renew with the same cert: %v", err)
	}
	if err := f.b.RenewAuth(ctx, withPeers(b), meta); err == nil {
		t.Error("renew with a different valid cert allowed")
	}
	if err := f.b.RenewAuth(ctx, &logical.Request{}, meta); err == nil {
		t.Error("renew without a cert allowed")
	}
	f.must(t, "crls/ca", map[string]any{"crl": ca.crl(t, a)})
	if err := f.b.RenewAuth(ctx, withPeers(a), meta); err == nil {
		t.Error("renew with a since-revoked cert allowed")
	}
	f.must(t, "config", map[string]any{"disable_binding": true})
	if err := f.b.RenewAuth(ctx, withPeers(b), map[string]string{"cert_name": "ca"}); err != nil {
		t.Errorf("disable_binding: %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name, path string
		data       map[string]any
	}{
		{"no certificate", "certs/x", map[string]any{}},
		{"garbage pem", "certs/x", map[string]any{"certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}},
		{"key instead of cert", "certs/x", map[string]any{"certificate": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}},
		{"bad crl", "crls/x", map[string]any{"crl": "nope"}},
		{"bad name", "certs/a b", map[string]any{}},
		{"unknown field", "certs/x", map[string]any{"nope": 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: tt.path, Data: tt.data})
			var ce *logical.CodedError
			if !errors.As(err, &ce) || ce.Code != http.StatusBadRequest {
				t.Errorf("err = %v, want 400", err)
			}
		})
	}
}
