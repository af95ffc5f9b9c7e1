// Package jwttest runs a real OIDC issuer for tests: an HTTPS server
// (httptest.NewTLSServer) serving a discovery document and a JWKS, with
// RSA, ECDSA and Ed25519 signing keys, and claim sets shaped like the
// tokens of GitHub Actions, GitLab CI and Kubernetes. It is for tests only.
package jwttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Key IDs of the issuer's keys.
const (
	KidRSA     = "rsa-1"
	KidEC      = "ec-1"
	KidEd25519 = "ed-1"
	// KidRotated is a key the JWKS serves only after Rotate.
	KidRotated = "rsa-2"
	// KidStranger signs with a key the issuer never publishes.
	KidStranger = "stranger"
)

type keyPair struct {
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

var (
	keysOnce sync.Once
	keys     map[string]keyPair
)

func genKeys() {
	keysOnce.Do(func() {
		rsa1, err := rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		rsa2, err := rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		stranger, err := rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		_, ed, err := ed25519.GenerateKey(rand.Reader)
		must(err)
		keys = map[string]keyPair{
			KidRSA:      {jose.RS256, rsa1},
			KidRotated:  {jose.RS256, rsa2},
			KidStranger: {jose.RS256, stranger},
			KidEC:       {jose.ES256, ec},
			KidEd25519:  {jose.EdDSA, ed},
		}
	})
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// Issuer is a running test issuer. URL is both the issuer and the
// discovery URL; CAPEM trusts its certificate.
type Issuer struct {
	URL   string
	CAPEM string
	srv   *httptest.Server

	rotated   atomic.Bool
	jwksHits  atomic.Int64
	discovery atomic.Int64
	// Handler, when set, replaces the issuer's handler (redirect and
	// body-echo tests).
	handler atomic.Pointer[http.HandlerFunc]
}

// NewIssuer starts an issuer and stops it at cleanup.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	genKeys()
	is := &Issuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		is.discovery.Add(1)
		writeJSON(w, map[string]any{"issuer": is.URL, "jwks_uri": is.URL + "/keys", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		is.jwksHits.Add(1)
		writeJSON(w, is.JWKS())
	})
	is.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := is.handler.Load(); h != nil {
			(*h)(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(is.srv.Close)
	is.URL = is.srv.URL
	is.CAPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.srv.Certificate().Raw}))
	return is
}

// SetHandler replaces the issuer's handler; nil restores it.
func (is *Issuer) SetHandler(h http.HandlerFunc) {
	if h == nil {
		is.handler.Store(nil)
		return
	}
	is.handler.Store(&h)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// JWKS is the published key set: the RSA, EC and Ed25519 keys, plus the
// rotated key after Rotate.
func (is *Issuer) JWKS() jose.JSONWebKeySet {
	kids := []string{KidRSA, KidEC, KidEd25519}
	if is.rotated.Load() {
		kids = append(kids, KidRotated)
	}
	var set jose.JSONWebKeySet
	for _, kid := range kids {
		kp := keys[kid]
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: kp.priv.Public(), KeyID: kid, Algorithm: string(kp.alg), Use: "sig"})
	}
	return set
}

// Rotate starts publishing KidRotated.
func (is *Issuer) Rotate() { is.rotated.Store(true) }

// JWKSHits counts JWKS fetches.
func (is *Issuer) JWKSHits() int64 { return is.jwksHits.Load() }

// PublicKeyPEM returns the PEM public key of kid (for jwt_validation_pubkeys).
func PublicKeyPEM(kid string) string {
	genKeys()
	der, err := x509.MarshalPKIXPublicKey(keys[kid].priv.Public())
	must(err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Sign signs claims with key kid, with header typ JWT and kid, plus extra
// header parameters.
func Sign(t testing.TB, kid string, claims map[string]any, extra map[string]any) string {
	t.Helper()
	hk := kid
	if kid == KidStranger {
		hk = "unknown-kid"
	}
	return SignAs(t, kid, hk, claims, extra)
}

// SignAs signs with the key keyKid but names headerKid in the header ("" for
// no kid).
func SignAs(t testing.TB, keyKid, headerKid string, claims map[string]any, extra map[string]any) string {
	t.Helper()
	genKeys()
	kp, ok := keys[keyKid]
	if !ok {
		t.Fatalf("jwttest: unknown kid %q", keyKid)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range extra {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	jwk := jose.JSONWebKey{Key: kp.priv, KeyID: headerKid}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: kp.alg, Key: jwk}, opts)
	if err != nil {
		t.Fatalf("jwttest: signer: %v", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("jwttest: claims: %v", err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatalf("jwttest: sign: %v", err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatalf("jwttest: serialize: %v", err)
	}
	return out
}

// Raw assembles a token from a header and a payload given as raw JSON and
// a signature, without signing: for forged tokens (alg none, bad shapes).
func Raw(header, payload string, sig []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig)
}

// HS256WithPublicKey forges the classic key-confusion token: HS256 keyed
// with the PEM of the issuer's RSA public key.
func HS256WithPublicKey(claims map[string]any) string {
	payload, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT","kid":"`+KidRSA+`"}`)) + "." + enc.EncodeToString(payload)
	m := hmac.New(sha256.New, []byte(PublicKeyPEM(KidRSA)))
	m.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(m.Sum(nil))
}

// times returns iat, nbf and exp around now (GitHub: nbf 5 min before iat,
// exp 5 min after... here 10 min lifetime).
func times(now time.Time) (int64, int64, int64) {
	return now.Unix(), now.Add(-5 * time.Second).Unix(), now.Add(10 * time.Minute).Unix()
}

// GitHub returns a GitHub Actions claim set (shape copied from GitHub's
// documented example) for repository repo ("owner/name") with subject sub.
// Adjust fields in the returned map for variants.
func GitHub(iss, repo, sub, aud string, now time.Time) map[string]any {
	iat, nbf, exp := times(now)
	owner := repo
	for i := range len(repo) {
		if repo[i] == '/' {
			owner = repo[:i]
			break
		}
	}
	return map[string]any{
		"jti": "example-id", "sub": sub, "aud": aud,
		"ref": "refs/heads/main", "sha": "example-sha",
		"repository": repo, "repository_owner": owner, "actor_id": "12",
		"repository_visibility": "private", "repository_id": "74", "repository_owner_id": "65",
		"run_id": "example-run-id", "run_number": "10", "run_attempt": "2", "runner_environment": "github-hosted",
		"actor": "octocat", "workflow": "example-workflow", "head_ref": "", "base_ref": "",
		"event_name": "workflow_dispatch", "ref_type": "branch",
		"job_workflow_ref": repo + "/.github/workflows/deploy.yml@refs/heads/main",
		"iss":              iss, "nbf": nbf, "exp": exp, "iat": iat,
	}
}

// GitLab returns a GitLab CI id_token claim set (shape copied from
// GitLab's documented example) for project path ("group/project").
func GitLab(iss, path, aud string, now time.Time) map[string]any {
	iat, nbf, exp := times(now)
	ns := path
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			ns = path[:i]
			break
		}
	}
	return map[string]any{
		"namespace_id": "72", "namespace_path": ns, "project_id": "20", "project_path": path,
		"user_id": "1", "user_login": "sample-user", "user_email": "sample-user@example.com",
		"user_identities": []any{map[string]any{"provider": "github", "extern_uid": "2435223452345"}},
		"pipeline_id":     "574", "pipeline_source": "push", "job_id": "302",
		"ref": "main", "ref_type": "branch", "ref_path": "refs/heads/main", "ref_protected": "true",
		"groups_direct": []any{"mygroup/mysubgroup"}, "environment": "production",
		"environment_protected": "true", "deployment_tier": "production", "environment_action": "start",
		"runner_id": 1, "runner_environment": "self-hosted", "sha": "714a629c0b401fdce83e847fc9589983fc6f46bc",
		"project_visibility": "private", "ci_config_ref_uri": "gitlab.example.com/" + path + "//.gitlab-ci.yml@refs/heads/main",
		"ci_config_sha": "714a629c0b401fdce83e847fc9589983fc6f46bc", "jti": "235b3a54-b797-45c7-ae9a-f72d7bc6ef5b",
		"iss": iss, "iat": iat, "nbf": nbf, "exp": exp,
		"sub": "project_path:" + path + ":ref_type:branch:ref:main", "aud": aud,
	}
}

// Kubernetes returns a projected service-account token claim set (shape
// copied from the Kubernetes docs) for namespace ns and account sa.
func Kubernetes(iss, ns, sa string, aud []string, now time.Time) map[string]any {
	iat, nbf, exp := times(now)
	auds := make([]any, len(aud))
	for i, a := range aud {
		auds[i] = a
	}
	return map[string]any{
		"aud": auds, "exp": exp, "iat": iat, "iss": iss, "jti": "ea28ed49-2e11-4280-9ec5-bc3d1d84661a",
		"kubernetes.io": map[string]any{
			"namespace":      ns,
			"node":           map[string]any{"name": "127.0.0.1", "uid": "58456cb0-dd00-45ed-b797-5578fdceaced"},
			"pod":            map[string]any{"name": sa + "-69cbfb9798-jv9gn", "uid": "778a530c-b3f4-47c0-9cd5-ab018fb64f33"},
			"serviceaccount": map[string]any{"name": sa, "uid": "a087d5a0-e1dd-43ec-93ac-f13d89cd13af"},
			"warnafter":      iat + 3600,
		},
		"nbf": nbf, "sub": "system:serviceaccount:" + ns + ":" + sa,
	}
}

// SignRaw signs payload bytes as they are with key kid.
func SignRaw(t testing.TB, kid string, payload []byte) string {
	t.Helper()
	genKeys()
	kp := keys[kid]
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: kp.alg, Key: jose.JSONWebKey{Key: kp.priv, KeyID: kid}}, nil)
	if err != nil {
		t.Fatalf("jwttest: signer: %v", err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatalf("jwttest: sign: %v", err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatalf("jwttest: serialize: %v", err)
	}
	return out
}
