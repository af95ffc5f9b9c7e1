package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// parsePublicKeys parses jwt_validation_pubkeys: PEM public keys (PKIX) or
// certificates, RSA (2048 bits or more), ECDSA P-256/P-384 or Ed25519.
func parsePublicKeys(pems []string) ([]jose.JSONWebKey, error) {
	var out []jose.JSONWebKey
	for i, p := range pems {
		rest := []byte(p)
		found := false
		for {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			var pub crypto.PublicKey
			switch blk.Type {
			case "PUBLIC KEY":
				k, err := x509.ParsePKIXPublicKey(blk.Bytes)
				if err != nil {
					return nil, fmt.Errorf("jwt_validation_pubkeys[%d]: not a valid public key", i)
				}
				pub = k
			case "CERTIFICATE":
				c, err := x509.ParseCertificate(blk.Bytes)
				if err != nil {
					return nil, fmt.Errorf("jwt_validation_pubkeys[%d]: not a valid certificate", i)
				}
				pub = c.PublicKey
			default:
				return nil, fmt.Errorf("jwt_validation_pubkeys[%d]: PEM block %q is not a public key", i, blk.Type)
			}
			if err := checkKey(pub); err != nil {
				return nil, fmt.Errorf("jwt_validation_pubkeys[%d]: %w", i, err)
			}
			out = append(out, jose.JSONWebKey{Key: pub})
			found = true
		}
		if !found {
			return nil, fmt.Errorf("jwt_validation_pubkeys[%d]: no PEM public key found", i)
		}
	}
	return out, nil
}

// checkKey accepts the public key types the allowed algorithms use.
func checkKey(k any) error {
	switch t := k.(type) {
	case *rsa.PublicKey:
		if t.N.BitLen() < 2048 {
			return errors.New("RSA key is shorter than 2048 bits")
		}
	case *ecdsa.PublicKey:
		if n := t.Curve.Params().Name; n != "P-256" && n != "P-384" {
			return fmt.Errorf("ECDSA curve %s is not supported", n)
		}
	case ed25519.PublicKey:
	default:
		return errors.New("unsupported key type (want RSA, ECDSA or Ed25519)")
	}
	return nil
}

// publicJWKS keeps the usable signing keys of a fetched set: public keys
// of supported types whose "use", when present, is "sig". Private or
// symmetric keys in a JWKS are dropped, never used.
func publicJWKS(set jose.JSONWebKeySet) []jose.JSONWebKey {
	out := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if !k.IsPublic() {
			continue
		}
		if checkKey(k.Key) != nil {
			continue
		}
		out = append(out, k)
	}
	return out
}

// keySet answers "which keys may have signed this token" for one config.
// Static keys come from PEM; remote keys from a JWKS URL (possibly found
// through discovery), cached for cacheTTL and refreshed on an unknown kid at
// most once per minRefresh. Safe for concurrent use; lookups of a known kid
// take no lock.
type keySet struct {
	static []jose.JSONWebKey

	fetch        *fetcher
	discoveryURL string // when set, jwks_uri and issuer come from discovery
	jwksURL      string
	cacheTTL     time.Duration
	minRefresh   time.Duration
	now          func() time.Time

	cur       atomic.Pointer[fetched]
	refreshMu sync.Mutex // one fetch at a time
	lastTry   time.Time  // guarded by refreshMu
	issuer    string     // from discovery; guarded by refreshMu, copied into fetched
}

type fetched struct {
	keys   []jose.JSONWebKey
	at     time.Time
	issuer string
}

// discoveryDoc is the part of an OpenID provider configuration used here.
type discoveryDoc struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// refresh fetches discovery (first time) and the JWKS. Caller holds
// refreshMu.
func (k *keySet) refresh(ctx context.Context) error {
	k.lastTry = k.now()
	jwksURL := k.jwksURL
	if k.discoveryURL != "" {
		var d discoveryDoc
		if err := k.fetch.getJSON(ctx, strings.TrimSuffix(k.discoveryURL, "/")+wellKnownSuffix, &d); err != nil {
			return fmt.Errorf("oidc_discovery_url: %w", err)
		}
		if strings.TrimSuffix(d.Issuer, "/") != strings.TrimSuffix(k.discoveryURL, "/") {
			return errors.New("oidc_discovery_url: the discovery document's issuer does not match the URL")
		}
		if d.JWKSURI == "" {
			return errors.New("oidc_discovery_url: the discovery document has no jwks_uri")
		}
		k.issuer = d.Issuer
		jwksURL = d.JWKSURI
	}
	var set jose.JSONWebKeySet
	if err := k.fetch.getJSON(ctx, jwksURL, &set); err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	keys := publicJWKS(set)
	if len(keys) == 0 {
		return errors.New("jwks: the key set has no usable public signing key")
	}
	k.cur.Store(&fetched{keys: keys, at: k.now(), issuer: k.issuer})
	return nil
}

// ensure makes sure keys were fetched at least once; config writes call it
// to report a bad URL at once.
func (k *keySet) ensure(ctx context.Context) error {
	if k.fetch == nil || k.cur.Load() != nil {
		return nil
	}
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	if k.cur.Load() != nil {
		return nil
	}
	return k.refresh(ctx)
}

// maybeRefresh refreshes unless another refresh happened (or was tried)
// less than minRefresh ago, or unless the set changed since seen.
func (k *keySet) maybeRefresh(ctx context.Context, seen *fetched) error {
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	if cur := k.cur.Load(); cur != seen {
		return nil // someone else refreshed while we waited
	}
	if !k.lastTry.IsZero() && k.now().Sub(k.lastTry) < k.minRefresh {
		return nil
	}
	return k.refresh(ctx)
}

// issuerFromDiscovery returns the issuer the discovery document named ("" when
// keys do not come from discovery or were not fetched yet).
func (k *keySet) issuerFromDiscovery(ctx context.Context) (string, error) {
	if k.discoveryURL == "" {
		return "", nil
	}
	if err := k.ensure(ctx); err != nil {
		return "", err
	}
	return k.cur.Load().issuer, nil
}

// find returns candidate keys for header h.
func (k *keySet) find(ctx context.Context, h Header) ([]jose.JSONWebKey, error) {
	if k.fetch == nil {
		return pick(k.static, h), nil
	}
	if err := k.ensure(ctx); err != nil {
		return nil, err
	}
	cur := k.cur.Load()
	stale := k.now().Sub(cur.at) >= k.cacheTTL
	got := pick(cur.keys, h)
	if len(got) > 0 && !stale {
		return got, nil
	}
	// Unknown kid or stale cache: refresh, rate limited. A failed refresh
	// keeps serving the cached keys.
	if err := k.maybeRefresh(ctx, cur); err != nil && len(got) == 0 {
		return nil, err
	}
	if got = pick(k.cur.Load().keys, h); len(got) == 0 {
		return nil, refuse("no configured key matches the token's kid")
	}
	return got, nil
}

// pick selects keys by kid; a token without kid may be checked against
// every key (static PEM keys have none).
func pick(keys []jose.JSONWebKey, h Header) []jose.JSONWebKey {
	if h.Kid == "" {
		return keys
	}
	var out []jose.JSONWebKey
	for _, k := range keys {
		if k.KeyID == h.Kid || k.KeyID == "" {
			out = append(out, k)
		}
	}
	return out
}
