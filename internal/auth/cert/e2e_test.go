package cert_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/node"
	"github.com/keyward/keyward/internal/sensitive"
)

// tlsNode is a real server with a TLS listener and bolt storage in dir.
type tlsNode struct {
	n      *node.Node
	url    string
	root   string
	shares []sensitive.Bytes
	caPool *x509.CertPool
}

func writeServerCert(t testing.TB, dir string) *x509.CertPool {
	t.Helper()
	ca := newCA(t, "server-ca")
	leaf, tc := ca.issue(t, leafOpts{cn: "127.0.0.1", ips: []net.IP{net.ParseIP("127.0.0.1")}, usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	keyDER, err := x509.MarshalPKCS8PrivateKey(tc.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.pem"), []byte(toPEM(leaf)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

func startTLSNode(t testing.TB, dir string, pool *x509.CertPool, shares []sensitive.Bytes, root string) *tlsNode {
	t.Helper()
	cfg := config.Default()
	cfg.Storage = config.Storage{Type: "bolt", Path: filepath.Join(dir, "data")}
	cfg.Listeners = []config.Listener{{Type: "tcp", Address: "127.0.0.1:0",
		TLSCertFile: filepath.Join(dir, "server.pem"), TLSKeyFile: filepath.Join(dir, "server.key")}}
	if err := os.MkdirAll(cfg.Storage.Path, 0o700); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx := context.Background()
	if shares == nil {
		res, err := n.Core().Initialize(ctx, core.InitParams{Shares: 1, Threshold: 1})
		if err != nil {
			t.Fatal(err)
		}
		shares, root = res.Shares, res.RootToken.Reveal()
	}
	if err := n.Core().Unseal(ctx, shares); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	return &tlsNode{n: n, url: n.URLs()[0], root: root, shares: shares, caPool: pool}
}

// call makes one request presenting client (nil: no client certificate).
func (tn *tlsNode) call(t testing.TB, client *tls.Certificate, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	tc := &tls.Config{RootCAs: tn.caPool, MinVersion: tls.VersionTLS12}
	if client != nil {
		tc.Certificates = []tls.Certificate{*client}
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	defer hc.CloseIdleConnections()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, tn.url+"/v1/"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func (tn *tlsNode) must(t testing.TB, method, path string, body any) map[string]any {
	t.Helper()
	code, out := tn.call(t, nil, method, path, tn.root, body)
	if code >= 300 {
		t.Fatalf("%s %s: %d %v", method, path, code, out)
	}
	return out
}

func token(t testing.TB, out map[string]any) string {
	t.Helper()
	a, _ := out["auth"].(map[string]any)
	tok, _ := a["client_token"].(string)
	if tok == "" {
		t.Fatalf("no token in %v", out)
	}
	return tok
}

// TestEndToEndTLS logs in over a real mTLS listener; T27 end to end:
// pinned DER, CRL in force right after a restart, renew with another cert.
func TestEndToEndTLS(t *testing.T) {
	dir := t.TempDir()
	pool := writeServerCert(t, dir)
	tn := startTLSNode(t, dir, pool, nil, "")
	tn.must(t, "POST", "sys/auth/cert", map[string]any{"type": "cert"})
	tn.must(t, "POST", "sys/policies/acl/ci", map[string]any{"policy": `path "secret/data/ci/*" { capabilities = ["read"] }`})

	ca := newCA(t, "client-ca")
	tn.must(t, "POST", "auth/cert/certs/ci", map[string]any{
		"certificate": ca.pem(), "token_policies": "ci", "allowed_uri_sans": "spiffe://example.org/ci/*",
	})
	pinned, pinnedTLS := (*issuer)(nil).issue(t, leafOpts{cn: "bot", serial: 77})
	tn.must(t, "POST", "auth/cert/certs/bot", map[string]any{"certificate": toPEM(pinned), "token_policies": "ci"})

	_, job := ca.issue(t, leafOpts{cn: "job", uris: []string{"spiffe://example.org/ci/build"}})
	revokedLeaf, revoked := ca.issue(t, leafOpts{cn: "old", uris: []string{"spiffe://example.org/ci/old"}})
	_, attacker := (*issuer)(nil).issue(t, leafOpts{cn: "bot", serial: 77})
	_, wrongSAN := ca.issue(t, leafOpts{cn: "job", uris: []string{"spiffe://example.org/dev/build"}})

	code, out := tn.call(t, &job, "POST", "auth/cert/login", "", nil)
	if code != 200 {
		t.Fatalf("mTLS login: %d %v", code, out)
	}
	tok := token(t, out)
	if code, _ := tn.call(t, nil, "GET", "auth/token/lookup-self", tok, nil); code != 200 {
		t.Fatalf("token from cert login does not work: %d", code)
	}
	if code, out := tn.call(t, &pinnedTLS, "POST", "auth/cert/login", "", nil); code != 200 {
		t.Fatalf("pinned login: %d %v", code, out)
	}
	for name, c := range map[string]*tls.Certificate{"attacker with pinned subject and serial": &attacker, "wrong SPIFFE ID": &wrongSAN, "no certificate": nil} {
		if code, _ := tn.call(t, c, "POST", "auth/cert/login", "", nil); code < 400 {
			t.Errorf("%s: login answered %d", name, code)
		}
	}
	// Renewal with another valid certificate, or none, is refused; with the
	// certificate that logged in it works.
	if code, _ := tn.call(t, &wrongSAN, "POST", "auth/token/renew-self", tok, nil); code < 400 {
		t.Errorf("renew-self with a different certificate answered %d", code)
	}
	if code, _ := tn.call(t, nil, "POST", "auth/token/renew-self", tok, nil); code < 400 {
		t.Errorf("renew-self without a certificate answered %d", code)
	}
	if code, out := tn.call(t, &job, "POST", "auth/token/renew-self", tok, nil); code != 200 {
		t.Errorf("renew-self with the login certificate: %d %v", code, out)
	}

	tn.must(t, "POST", "auth/cert/crls/ca", map[string]any{"crl": ca.crl(t, revokedLeaf)})
	if code, _ := tn.call(t, &revoked, "POST", "auth/cert/login", "", nil); code < 400 {
		t.Fatalf("revoked cert logged in: %d", code)
	}
	shares, root := tn.shares, tn.root
	tn.n.Close()

	tn2 := startTLSNode(t, dir, pool, shares, root)
	if code, _ := tn2.call(t, &revoked, "POST", "auth/cert/login", "", nil); code < 400 {
		t.Fatalf("revoked cert logged in right after restart: %d", code)
	}
	if code, out := tn2.call(t, &job, "POST", "auth/cert/login", "", nil); code != 200 {
		t.Fatalf("login after restart: %d %v", code, out)
	}
}
