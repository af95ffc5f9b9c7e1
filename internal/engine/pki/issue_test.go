package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

func testMount(t *testing.T) (*backend, logical.Storage) {
	t.Helper()
	b := newBackend(time.Now)
	s := &logicaltest.InmemStorage{}
	call(t, b, s, "root/generate/internal", map[string]any{"common_name": "Test Root", "key_type": "ec", "ttl": "8760h"})
	return b, s
}

func try(b *backend, s logical.Storage, path string, data map[string]any) (*logical.Response, error) {
	return b.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: path, Data: data, Storage: s})
}

func csrPEM(t *testing.T, tpl *x509.CertificateRequest) string {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, tpl, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func leafOf(t *testing.T, r *logical.Response) *x509.Certificate {
	t.Helper()
	c, err := parseCertPEM(r.Data["certificate"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Through issue and sign, every name the certificate carries is one the
// role allows, whether it came from the request or the CSR; a CSR asking
// to be a CA gets a leaf; the role's key type binds the CSR.
func TestSignChecksEveryName(t *testing.T) {
	b, s := testMount(t)
	call(t, b, s, "roles/web", map[string]any{"allowed_domains": "Example.COM", "allow_subdomains": true, "key_type": "ec",
		"allowed_uri_sans": "spiffe://td/*", "allowed_other_sans": "1.3.6.1.4.1.311.20.2.3;UTF8:*@example.com", "ttl": "1h"})
	if r := call(t, b, s, "roles/web", nil); r.Data["allowed_domains"].([]string)[0] != "example.com" {
		t.Fatalf("allowed_domains stored as %v", r.Data["allowed_domains"])
	}
	spiffe, _ := url.Parse("spiffe://td/ns/a")
	evil, _ := url.Parse("spiffe://evil/x")
	for _, tc := range []struct {
		name string
		csr  *x509.CertificateRequest
		data map[string]any
		ok   bool
	}{
		{"CSR names allowed", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example.com"}, DNSNames: []string{"b.example.com"}, URIs: []*url.URL{spiffe}}, nil, true},
		{"CSR CN outside", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.evil.com"}}, nil, false},
		{"CSR DNS SAN outside", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example.com"}, DNSNames: []string{"evil.com"}}, nil, false},
		{"CSR email outside", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example.com"}, EmailAddresses: []string{"x@evil.com"}}, nil, false},
		{"CSR IP allowed by default", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example.com"}, IPAddresses: []net.IP{ip("10.0.0.1")}}, nil, true},
		{"CSR URI outside", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example.com"}, URIs: []*url.URL{evil}}, nil, false},
		{"request names replace the CSR's", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example.com"}, DNSNames: []string{"evil.com"}},
			map[string]any{"alt_names": "c.example.com"}, true},
		{"other SAN allowed", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example.com"}},
			map[string]any{"other_sans": "1.3.6.1.4.1.311.20.2.3;UTF8:alice@example.com"}, true},
		{"other SAN outside", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example.com"}},
			map[string]any{"other_sans": "1.3.6.1.4.1.311.20.2.3;UTF8:alice@evil.com"}, false},
		{"CSR asks to be a CA", &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example.com"}, ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff}}}}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := map[string]any{"csr": csrPEM(t, tc.csr)}
			for k, v := range tc.data {
				data[k] = v
			}
			r, err := try(b, s, "sign/web", data)
			if !tc.ok {
				var ce *logical.CodedError
				if !errors.As(err, &ce) || ce.Code != 400 {
					t.Fatalf("sign = %v, want a 400 refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			c := leafOf(t, r)
			if c.IsCA || c.KeyUsage&x509.KeyUsageCertSign != 0 {
				t.Fatal("a leaf became a CA")
			}
			pol := namePolicy{AllowedDomains: []string{"example.com"}, AllowSubdomains: true, EnforceHostnames: true, AllowIPSANs: true,
				AllowedURISANs: []string{"spiffe://td/*"}}
			for _, d := range append([]string{c.Subject.CommonName}, c.DNSNames...) {
				if _, err := pol.checkHost(d); err != nil {
					t.Errorf("issued name %q outside the role", d)
				}
			}
			for _, u := range c.URIs {
				if _, err := pol.checkURI(u.String()); err != nil {
					t.Errorf("issued URI %q outside the role", u)
				}
			}
			if got := otherSANs(c.Extensions); tc.data["other_sans"] != nil && (len(got) != 1 || got[0] != tc.data["other_sans"]) {
				t.Errorf("other SANs %v", got)
			}
		})
	}
	// An RSA CSR against an ec role.
	if _, err := try(b, s, "sign/web", map[string]any{"csr": rsaCSR(t)}); err == nil || !strings.Contains(err.Error(), "ec key") {
		t.Fatalf("rsa CSR for an ec role: %v", err)
	}
	// A tampered CSR (bad signature) is refused.
	p := csrPEM(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example.com"}})
	blk, _ := pem.Decode([]byte(p))
	blk.Bytes[len(blk.Bytes)-3] ^= 0xff
	if _, err := try(b, s, "sign/web", map[string]any{"csr": string(pem.EncodeToMemory(blk))}); err == nil {
		t.Fatal("tampered CSR signed")
	}
}

func ip(s string) net.IP {
	a, err := anyName.checkIP(s)
	if err != nil {
		panic(s)
	}
	return a.AsSlice()
}

func rsaCSR(t *testing.T) string {
	t.Helper()
	k, err := generateKey("rsa", 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example.com"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// not_after is bounded by the role's max_ttl as ttl is. Regression
// (adversarial pass on the pki engine): a role with max_ttl=1h issued a
// certificate valid for 30 days when asked by not_after.
func TestNotAfterBoundedByMaxTTL(t *testing.T) {
	b, s := testMount(t)
	call(t, b, s, "roles/short", map[string]any{"allow_any_name": true, "key_type": "ec", "max_ttl": "1h"})
	far := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	if r, err := try(b, s, "issue/short", map[string]any{"common_name": "x", "not_after": far}); err == nil {
		t.Fatalf("not_after 30 days out under max_ttl 1h issued a certificate until %v", leafOf(t, r).NotAfter)
	}
	near := time.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339)
	r, err := try(b, s, "issue/short", map[string]any{"common_name": "x", "not_after": near})
	if err != nil {
		t.Fatalf("not_after within max_ttl: %v", err)
	}
	if got := leafOf(t, r).NotAfter.UTC().Format(time.RFC3339); got != near {
		t.Errorf("NotAfter = %s, want %s", got, near)
	}
}
