package jwt_test

import (
	"github.com/keyward/keyward/internal/auth/jwt/jwttest"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConfigSSRF is T23 through the API: internal URLs are refused unless
// allow_private_network is set, and errors never carry fetched bodies.
func TestConfigSSRF(t *testing.T) {
	f := newFixture(t, 0)
	tests := []struct {
		name string
		data map[string]any
		want string
	}{
		{"vault port on loopback", map[string]any{"oidc_discovery_url": "https://127.0.0.1:8200"}, "internal"},
		{"cloud metadata", map[string]any{"jwks_url": "https://169.254.169.254/latest/meta-data/"}, "internal"},
		{"localhost", map[string]any{"jwks_url": "https://localhost/keys"}, "internal"},
		{"test issuer without opt-in", map[string]any{"oidc_discovery_url": f.is.URL, "oidc_discovery_ca_pem": f.is.CAPEM}, "internal"},
		{"plain http", map[string]any{"jwks_url": "http://example.com/keys"}, "https"},
		{"two sources", map[string]any{"jwks_url": f.is.URL + "/keys", "jwt_validation_pubkeys": jwttest.PublicKeyPEM(jwttest.KidRSA), "allow_private_network": true}, "exactly one"},
		{"no source", map[string]any{"bound_issuer": "x"}, "exactly one"},
		{"untrusted certificate", map[string]any{"jwks_url": f.is.URL + "/keys", "allow_private_network": true}, "certificate"},
		{"weak RSA key", map[string]any{"jwt_validation_pubkeys": weakRSA}, "2048"},
		{"garbage PEM", map[string]any{"jwt_validation_pubkeys": "not a pem"}, "no PEM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &logicaltest.InmemStorage{}
			f.s = s
			_, err := f.write("config", tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("config %v: err = %v, want %q", tc.data, err, tc.want)
			}
		})
	}
}

func TestConfigRedirectToInternal(t *testing.T) {
	f := newFixture(t, 0)
	f.s = &logicaltest.InmemStorage{}
	const canary = "CANARY-body-3b1"
	f.is.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/openid-configuration" {
			w.Write([]byte(`{"issuer":"` + f.is.URL + `","jwks_uri":"https://169.254.169.254/keys"}`))
			return
		}
		w.Write([]byte(canary))
	})
	_, err := f.write("config", map[string]any{"oidc_discovery_url": f.is.URL, "oidc_discovery_ca_pem": f.is.CAPEM, "allow_private_network": true})
	// With allow_private_network the metadata address is allowed by the
	// policy, but nothing listens there over TLS: the fetch must fail
	// without echoing anything.
	if err == nil || strings.Contains(err.Error(), canary) {
		t.Fatalf("err = %v", err)
	}
	f.is.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"issuer":"https://evil.example","jwks_uri":"` + f.is.URL + `/keys"}`))
	})
	_, err = f.write("config", map[string]any{"oidc_discovery_url": f.is.URL, "oidc_discovery_ca_pem": f.is.CAPEM, "allow_private_network": true})
	if err == nil || !strings.Contains(err.Error(), "issuer does not match") {
		t.Fatalf("mismatched discovery issuer: err = %v", err)
	}
}

// TestJWKSRefresh: an unknown kid refreshes the cached JWKS at most once
// per interval (1 min by default); a rotated key is picked up by the next
// allowed refresh; known kids never cause fetches.
func TestJWKSRefresh(t *testing.T) {
	f := newFixture(t, 0) // the config write fetched the JWKS at t0
	f.roles()
	rotated := jwttest.Sign(t, jwttest.KidRotated, ghMain(f.is.URL), nil)
	base := f.is.JWKSHits()
	if _, err := f.login("gh-prod", rotated); err == nil {
		t.Fatal("token signed by an unpublished key accepted")
	}
	if got := f.is.JWKSHits() - base; got != 0 {
		t.Fatalf("%d JWKS fetches within the interval after the config fetch, want 0", got)
	}
	f.clk.Set(t0.Add(2 * time.Minute))
	for range 5 {
		if _, err := f.login("gh-prod", rotated); err == nil || !strings.Contains(err.Error(), "no configured key matches") {
			t.Fatalf("unpublished key: err = %v", err)
		}
	}
	if got := f.is.JWKSHits() - base; got != 1 {
		t.Fatalf("%d JWKS fetches for 5 unknown-kid logins, want 1 (rate limited)", got)
	}
	f.is.Rotate()
	if _, err := f.login("gh-prod", rotated); err == nil {
		t.Fatal("accepted within the refresh interval")
	}
	f.clk.Set(t0.Add(4 * time.Minute))
	if _, err := f.login("gh-prod", rotated); err != nil {
		t.Fatalf("rotated key after the interval: %v", err)
	}
	before := f.is.JWKSHits()
	for range 20 {
		if _, err := f.login("gh-prod", f.sign(ghMain(f.is.URL))); err != nil {
			t.Fatal(err)
		}
	}
	if f.is.JWKSHits() != before {
		t.Error("known kid caused JWKS fetches")
	}
}

func TestConfigRoundTrip(t *testing.T) {
	f := newFixture(t, 0)
	resp, err := f.do(logical.ReadOperation, "config", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Data["oidc_discovery_url"] != f.is.URL || resp.Data["allow_private_network"] != true {
		t.Errorf("config read = %v", resp.Data)
	}
}

const weakRSA = `-----BEGIN PUBLIC KEY-----
MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMi5U3dHh6fGEXVz9Zf1sJ0a9tU6PPzh
bt6nqN/7q6hMQhuJrL9DqTP8/wsUbdEf4c5HHVDW0fe3VqA5SPH7cNkCAwEAAQ==
-----END PUBLIC KEY-----
`
