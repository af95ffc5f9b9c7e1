package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Nonces are single-use, expire, and the store stays bounded however
// many are handed out.
func TestACMENonces(t *testing.T) {
	s := newACMEState()
	now := time.Unix(1_800_000_000, 0)
	n := s.newNonce(now)
	if !s.useNonce(n, now) || s.useNonce(n, now) {
		t.Fatal("a nonce was not usable exactly once")
	}
	if s.useNonce("never-issued", now) {
		t.Fatal("an unknown nonce was accepted")
	}
	old := s.newNonce(now)
	if s.useNonce(old, now.Add(nonceTTL+time.Second)) {
		t.Fatal("an expired nonce was accepted")
	}
	first := s.newNonce(now)
	for i := 0; i < 3*maxNonces; i++ {
		s.newNonce(now)
	}
	if len(s.nonces) > maxNonces || len(s.order) > 2*maxNonces {
		t.Fatalf("store grew to %d nonces, %d queued", len(s.nonces), len(s.order))
	}
	if s.useNonce(first, now) {
		t.Fatal("the oldest nonce survived eviction")
	}
}

// Each account has its own budget: the burst passes, the next request
// is refused, another account is unaffected, and time refills it.
func TestACMERateLimit(t *testing.T) {
	s := newACMEState()
	now := time.Unix(1_800_000_000, 0)
	for i := 0; i < acmeBurst; i++ {
		if !s.allow("a", now) {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if s.allow("a", now) {
		t.Fatal("request beyond the burst allowed")
	}
	if !s.allow("b", now) {
		t.Fatal("another account was limited")
	}
	if !s.allow("a", now.Add(time.Second)) {
		t.Fatal("the budget did not refill")
	}
}

// Validation connects only where allowed: public addresses, or the
// configured networks. Loopback, private, link-local, CGNAT and
// documentation ranges are refused by default.
func TestACMEAllowedNetworks(t *testing.T) {
	def := defaultACMEConfig()
	lo := defaultACMEConfig()
	lo.AllowedValidationNetworks = []string{"127.0.0.0/8", "fd00::/8"}
	for _, tc := range []struct {
		addr    string
		def, lo bool
	}{
		{"8.8.8.8", true, true}, {"2606:4700::1111", true, true},
		{"127.0.0.1", false, true}, {"::1", false, false}, {"::ffff:127.0.0.1", false, true},
		{"10.1.2.3", false, false}, {"172.16.0.1", false, false}, {"192.168.1.1", false, false},
		{"169.254.169.254", false, false}, {"fe80::1", false, false}, {"100.64.0.1", false, false},
		{"0.0.0.0", false, false}, {"192.0.2.1", false, false}, {"224.0.0.1", false, false},
		{"fd12::1", false, true}, {"255.255.255.255", false, false},
	} {
		a := netip.MustParseAddr(tc.addr)
		if got := def.allowedNet(a); got != tc.def {
			t.Errorf("default config: allowedNet(%s) = %v, want %v", tc.addr, got, tc.def)
		}
		if got := lo.allowedNet(a); got != tc.lo {
			t.Errorf("loopback allowed: allowedNet(%s) = %v, want %v", tc.addr, got, tc.lo)
		}
	}
}

// http-01 against a loopback server: refused unless loopback is allowed;
// a redirect to a forbidden address is not followed; an oversized body
// fails; the right key authorization passes.
func TestACMEHTTP01Limits(t *testing.T) {
	const token, keyAuth = "tok", "tok.thumb"
	var hits atomic.Int32
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: time.Minute, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/.well-known/acme-challenge/" + token:
			_, _ = w.Write([]byte(keyAuth + "\n"))
		case "/.well-known/acme-challenge/redirect":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
		case "/.well-known/acme-challenge/big":
			_, _ = w.Write([]byte(keyAuth + strings.Repeat(" ", maxChallengeBody)))
		default:
			http.NotFound(w, r)
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := l.Addr().(*net.TCPAddr).Port
	b := newBackend(time.Now)
	ctx := context.Background()
	cfg := defaultACMEConfig()
	cfg.HTTPChallengePort = port
	if p := b.validate(ctx, cfg, "http-01", "127.0.0.1", token, keyAuth); p == nil || !strings.HasSuffix(p.Type, ":rejectedIdentifier") || hits.Load() != 0 {
		t.Fatalf("loopback not allowed: problem %+v, %d requests reached the server", p, hits.Load())
	}
	cfg.AllowedValidationNetworks = []string{"127.0.0.1/32"}
	if p := b.validate(ctx, cfg, "http-01", "127.0.0.1", token, keyAuth); p != nil {
		t.Fatalf("allowed loopback with the right key authorization: %+v", p)
	}
	if p := b.validate(ctx, cfg, "http-01", "127.0.0.1", token, "tok.other"); p == nil || !strings.HasSuffix(p.Type, ":incorrectResponse") {
		t.Fatalf("wrong key authorization: %+v", p)
	}
	if p := b.validate(ctx, cfg, "http-01", "127.0.0.1", "redirect", keyAuth); p == nil {
		t.Fatal("a redirect to the metadata address was followed")
	}
	if p := b.validate(ctx, cfg, "http-01", "127.0.0.1", "big", keyAuth); p == nil {
		t.Fatal("an oversized challenge body passed")
	}
	// tls-alpn-01 obeys the same address rules.
	cfg.AllowedValidationNetworks = nil
	cfg.TLSChallengePort = port
	if p := b.validate(ctx, cfg, "tls-alpn-01", "127.0.0.1", token, keyAuth); p == nil || !strings.HasSuffix(p.Type, ":rejectedIdentifier") {
		t.Fatalf("tls-alpn-01 to loopback not allowed: %+v", p)
	}
}

// parseJWS takes flattened JSON with one protected header naming exactly
// one of jwk and kid, and verify refuses a signature by another key.
func TestParseJWS(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sign := func(opts *jose.SignerOptions, compact bool) []byte {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, opts)
		if err != nil {
			t.Fatal(err)
		}
		o, err := s.Sign([]byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if compact {
			c, _ := o.CompactSerialize()
			return []byte(c)
		}
		return []byte(o.FullSerialize())
	}
	hdr := map[jose.HeaderKey]any{"nonce": "n", "url": "https://x/acme/new-account"}
	good := sign(&jose.SignerOptions{EmbedJWK: true, ExtraHeaders: hdr}, false)
	j, err := parseJWS(good, acmeAlgs)
	if err != nil {
		t.Fatal(err)
	}
	if j.nonce != "n" || j.url != "https://x/acme/new-account" || j.jwk == nil {
		t.Fatalf("parsed %+v", j)
	}
	if _, err := j.verify(j.jwk); err != nil {
		t.Fatal(err)
	}
	if _, err := j.verify(&jose.JSONWebKey{Key: other.Public()}); err == nil {
		t.Fatal("verified with another key")
	}
	for name, body := range map[string][]byte{
		"compact":     sign(&jose.SignerOptions{EmbedJWK: true, ExtraHeaders: hdr}, true),
		"no url":      sign(&jose.SignerOptions{EmbedJWK: true, ExtraHeaders: map[jose.HeaderKey]any{"nonce": "n"}}, false),
		"no key":      sign(&jose.SignerOptions{ExtraHeaders: hdr}, false),
		"jwk and kid": sign(&jose.SignerOptions{EmbedJWK: true, ExtraHeaders: map[jose.HeaderKey]any{"nonce": "n", "url": "u", "kid": "k"}}, false),
		"extra field": []byte(strings.Replace(string(good), `{"payload"`, `{"header":{},"payload"`, 1)),
		"empty":       nil,
	} {
		if _, err := parseJWS(body, acmeAlgs); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: make([]byte, 32)}, &jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"nonce": "n", "url": "u", "kid": "k"}})
	o, _ := hs.Sign([]byte(`{}`))
	if _, err := parseJWS([]byte(o.FullSerialize()), acmeAlgs); err == nil {
		t.Error("an HMAC JWS was accepted as an account request")
	}
}

// FuzzParseJWS: parsing any body never panics, and whatever parses names
// exactly one key and a URL; verifying with its own jwk never panics.
func FuzzParseJWS(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, &jose.SignerOptions{EmbedJWK: true,
		ExtraHeaders: map[jose.HeaderKey]any{"nonce": "n", "url": "https://x/acme/new-account"}})
	o, _ := s.Sign([]byte(`{"termsOfServiceAgreed":true}`))
	f.Add([]byte(o.FullSerialize()))
	f.Add([]byte(`{"protected":"e30","payload":"","signature":""}`))
	f.Add([]byte(`{"protected":"eyJhbGciOiJFUzI1NiIsImtpZCI6Imh0dHBzOi8veC9hY21lL2FjY291bnQvMSIsIm5vbmNlIjoibiIsInVybCI6InUifQ","payload":"","signature":"AAAA"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		j, err := parseJWS(body, acmeAlgs)
		if err != nil {
			return
		}
		if j.url == "" || (j.kid == "") == (j.jwk == nil) {
			t.Fatalf("parsed a JWS without a url or with not exactly one key: %+v", j)
		}
		if j.jwk != nil {
			_, _ = j.verify(j.jwk)
			_, _ = thumbprint(j.jwk)
		}
		_, _ = parseEABJWS(body)
	})
}
