package node_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"
	"golang.org/x/crypto/ocsp"

	"github.com/keyward/keyward/internal/node/nodetest"
)

func pemCert(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("no PEM in %q", s)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func vaultStatus(err error) int {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// pkiSetup mounts pki (root) and pki_int (intermediate signed by the root)
// and returns the root's and the intermediate's PEM.
func pkiSetup(t *testing.T, c *vault.Client) (rootPEM, intPEM string) {
	t.Helper()
	l := c.Logical()
	for _, m := range []string{"pki", "pki_int"} {
		if err := c.Sys().Mount(m, &vault.MountInput{Type: "pki"}); err != nil {
			t.Fatalf("mount %s: %v", m, err)
		}
	}
	root, err := l.Write("pki/root/generate/internal", map[string]any{"common_name": "Keyward Test Root", "key_type": "ec", "ttl": "87600h", "issuer_name": "root-2026"})
	if err != nil {
		t.Fatalf("root/generate: %v", err)
	}
	if root.Data["private_key"] != nil {
		t.Fatal("internal root returned its key")
	}
	rootPEM = root.Data["certificate"].(string)
	csr, err := l.Write("pki_int/intermediate/generate/internal", map[string]any{"common_name": "Keyward Test Intermediate", "key_type": "ec"})
	if err != nil {
		t.Fatalf("intermediate/generate: %v", err)
	}
	signed, err := l.Write("pki/root/sign-intermediate", map[string]any{"csr": csr.Data["csr"], "ttl": "43800h", "format": "pem_bundle"})
	if err != nil {
		t.Fatalf("root/sign-intermediate: %v", err)
	}
	bundle := signed.Data["certificate"].(string)
	set, err := l.Write("pki_int/intermediate/set-signed", map[string]any{"certificate": bundle})
	if err != nil {
		t.Fatalf("set-signed: %v", err)
	}
	if imp := set.Data["imported_issuers"].([]any); len(imp) != 2 {
		t.Fatalf("set-signed imported %v, want the intermediate and the root", imp)
	}
	intPEM = pemEncodeFirst(t, bundle)
	return rootPEM, intPEM
}

func pemEncodeFirst(t *testing.T, bundle string) string {
	t.Helper()
	b, _ := pem.Decode([]byte(bundle))
	if b == nil {
		t.Fatal("empty bundle")
	}
	return string(pem.EncodeToMemory(b))
}

// The PKI engine through the official Vault client: root and
// intermediate; issue and sign (with cert-manager's request shape); the
// chain verifies with crypto/x509, openssl verify and a TLS handshake;
// revocation shows in the CRL, the delta CRL and OCSP; a narrow token
// cannot reach past issue; no private key reaches logs or audit.
func TestPKIVaultClient(t *testing.T) {
	auditDir := t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{AuditDir: auditDir})
	c := n.Client(t)
	l := c.Logical()
	enableFileAudit(t, c, filepath.Join(auditDir, "audit.log"))
	rootPEM, intPEM := pkiSetup(t, c)
	rootCert, intCert := pemCert(t, rootPEM), pemCert(t, intPEM)
	if !intCert.IsCA || intCert.CheckSignatureFrom(rootCert) != nil {
		t.Fatal("intermediate not signed by the root")
	}

	// Default issuer of pki_int is the intermediate (the one with a key).
	iss, err := l.Read("pki_int/issuer/default")
	if err != nil || strings.TrimSpace(iss.Data["certificate"].(string)) != strings.TrimSpace(intPEM) || iss.Data["key_id"] == "" {
		t.Fatalf("default issuer: %v %v", iss, err)
	}
	if chain := iss.Data["ca_chain"].([]any); len(chain) != 2 {
		t.Fatalf("issuer chain: %d entries", len(chain))
	}
	list, err := l.List("pki_int/issuers")
	if err != nil || len(list.Data["keys"].([]any)) != 2 {
		t.Fatalf("issuers: %v %v", list, err)
	}
	keys, err := l.List("pki_int/keys")
	if err != nil || len(keys.Data["keys"].([]any)) != 1 {
		t.Fatalf("keys: %v %v", keys, err)
	}

	if _, err := l.Write("pki_int/roles/web", map[string]any{
		"allowed_domains": "example.com", "allow_subdomains": true, "key_type": "ec", "key_bits": 256,
		"max_ttl": "72h", "ttl": "1h", "allowed_uri_sans": "spiffe://cluster.local/ns/*/sa/web",
	}); err != nil {
		t.Fatalf("role: %v", err)
	}

	// issue: a key and a certificate for www.example.com.
	is, err := l.Write("pki_int/issue/web", map[string]any{"common_name": "www.example.com", "alt_names": "api.example.com", "ip_sans": "127.0.0.1"})
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	leafPEM := is.Data["certificate"].(string)
	keyPEM := is.Data["private_key"].(string)
	leaf := pemCert(t, leafPEM)
	if got := strings.Join(leaf.DNSNames, ","); got != "www.example.com,api.example.com" {
		t.Fatalf("DNS SANs %q", got)
	}
	if is.Data["serial_number"] != colonHex(leaf.SerialNumber.Bytes()) || leaf.SerialNumber.BitLen() > 159 {
		t.Fatalf("serial %v vs %x", is.Data["serial_number"], leaf.SerialNumber)
	}
	roots := x509.NewCertPool()
	roots.AddCert(rootCert)
	inter := x509.NewCertPool()
	for _, p := range is.Data["ca_chain"].([]any) {
		inter.AddCert(pemCert(t, p.(string)))
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: "api.example.com"}); err != nil {
		t.Fatalf("x509 verify: %v", err)
	}

	// openssl verify, trusting only the root.
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out, err := exec.Command("openssl", "verify", "-CAfile", write("root.pem", rootPEM), "-untrusted", write("int.pem", intPEM), write("leaf.pem", leafPEM)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}

	// A TLS server with the issued certificate; a client trusting only
	// the root completes the handshake.
	pair, err := tls.X509KeyPair([]byte(leafPEM+"\n"+intPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.WriteString(conn, "hello"); conn.Close() }()
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "www.example.com"})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	if b, _ := io.ReadAll(conn); string(b) != "hello" {
		t.Fatalf("TLS read %q", b)
	}
	conn.Close()

	// sign with exactly what cert-manager sends (all strings).
	csrKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "app.example.com"},
		DNSNames: []string{"app.example.com", "app2.example.com"}}, csrKey)
	csrPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))
	sg, err := l.Write("pki_int/sign/web", map[string]any{
		"common_name": "app.example.com", "alt_names": "app.example.com,app2.example.com", "ip_sans": "",
		"uri_sans": "spiffe://cluster.local/ns/prod/sa/web", "ttl": "2160h0m0s", "csr": csrPEM, "exclude_cn_from_sans": "true",
	})
	if err != nil {
		t.Fatalf("sign (cert-manager shape): %v", err)
	}
	signed := pemCert(t, sg.Data["certificate"].(string))
	if strings.Join(signed.DNSNames, ",") != "app.example.com,app2.example.com" || len(signed.URIs) != 1 || !publicEqual(signed.PublicKey, &csrKey.PublicKey) {
		t.Fatalf("signed: %v %v", signed.DNSNames, signed.URIs)
	}
	if d := signed.NotAfter.Sub(signed.NotBefore); d > 73*3600*1e9 {
		t.Fatalf("ttl not capped to max_ttl: %v", d)
	}
	if len(sg.Warnings) == 0 {
		t.Fatal("no warning for a capped ttl")
	}
	if _, err := signed.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: "app2.example.com"}); err != nil {
		t.Fatalf("signed verify: %v", err)
	}

	// Names outside the role are refused, from the request or the CSR.
	for _, bad := range []map[string]any{
		{"common_name": "www.evil.com"},
		{"common_name": "example.com"},
		{"common_name": "www.example.com", "alt_names": "www.example.com.evil.com"},
		{"common_name": "www.example.com", "uri_sans": "spiffe://cluster.local/ns/prod/sa/admin"},
		{"common_name": "www.example.com.", "ttl": "1h"},
	} {
		if _, err := l.Write("pki_int/issue/web", bad); vaultStatus(err) != http.StatusBadRequest {
			t.Errorf("issue %v: %v, want 400", bad, err)
		}
	}
	evilCSR, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "www.example.com"},
		DNSNames: []string{"evil.org"}}, csrKey)
	if _, err := l.Write("pki_int/sign/web", map[string]any{"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: evilCSR}))}); vaultStatus(err) != http.StatusBadRequest {
		t.Errorf("sign with a CSR naming evil.org: %v, want 400", err)
	}

	// Revocation: CRL and OCSP.
	serial := is.Data["serial_number"].(string)
	if _, err := l.Write("pki_int/revoke", map[string]any{"serial_number": serial}); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	crlDER := pkiGet(t, n.URL+"/v1/pki_int/crl")
	crl, err := x509.ParseRevocationList(crlDER)
	if err != nil || crl.CheckSignatureFrom(intCert) != nil {
		t.Fatalf("crl: %v", err)
	}
	if !crlHas(crl, leaf) || crlHas(crl, signed) {
		t.Fatalf("CRL entries %v", crl.RevokedCertificateEntries)
	}
	out, err = exec.Command("openssl", "verify", "-crl_check", "-CAfile", write("root2.pem", rootPEM), "-untrusted", write("int2.pem", intPEM),
		"-CRLfile", write("crl.pem", string(pkiGet(t, n.URL+"/v1/pki_int/crl/pem"))), write("leaf2.pem", leafPEM)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "revoked") {
		t.Fatalf("openssl -crl_check on the revoked cert: %v\n%s", err, out)
	}
	if st := ocspStatus(t, n.URL, leaf, intCert, true); st != ocsp.Revoked {
		t.Fatalf("OCSP POST for the revoked cert: %d", st)
	}
	// openssl's OCSP client (POST) agrees, and verifies the response
	// against the root.
	out, err = exec.Command("openssl", "ocsp", "-issuer", write("int3.pem", intPEM), "-cert", write("leaf3.pem", leafPEM),
		"-url", n.URL+"/v1/pki_int/ocsp", "-CAfile", write("chain3.pem", rootPEM+"\n"+intPEM)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Response verify OK") || !strings.Contains(string(out), ": revoked") {
		t.Fatalf("openssl ocsp: %v\n%s", err, out)
	}
	if st := ocspStatus(t, n.URL, signed, intCert, false); st != ocsp.Good {
		t.Fatalf("OCSP GET for a good cert: %d", st)
	}
	certs, err := l.List("pki_int/certs")
	if err != nil || len(certs.Data["keys"].([]any)) < 2 {
		t.Fatalf("certs: %v %v", certs, err)
	}
	cs, err := l.Read("pki_int/cert/" + serial)
	if err != nil || cs.Data["revocation_time"] == nil || fmt.Sprint(cs.Data["revocation_time"]) == "0" {
		t.Fatalf("cert/SERIAL after revoke: %v %v", cs, err)
	}

	// Delta CRL: with enable_delta and auto_rebuild a revocation lands
	// in the delta, not the full CRL, until crl/rotate.
	if _, err := l.Write("pki_int/config/crl", map[string]any{"enable_delta": true, "auto_rebuild": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read("pki_int/crl/rotate"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write("pki_int/revoke", map[string]any{"serial_number": sg.Data["serial_number"]}); err != nil {
		t.Fatal(err)
	}
	delta, err := x509.ParseRevocationList(pkiGet(t, n.URL+"/v1/pki_int/crl/delta"))
	if err != nil || !crlHas(delta, signed) || crlHas(delta, leaf) {
		t.Fatalf("delta CRL: %v", err)
	}
	full, _ := x509.ParseRevocationList(pkiGet(t, n.URL+"/v1/pki_int/crl"))
	if crlHas(full, signed) || !crlHas(full, leaf) {
		t.Fatal("full CRL changed before rotate")
	}
	if _, err := l.Read("pki_int/crl/rotate"); err != nil {
		t.Fatal(err)
	}
	full, _ = x509.ParseRevocationList(pkiGet(t, n.URL+"/v1/pki_int/crl"))
	if !crlHas(full, signed) || full.Number.Cmp(delta.Number) <= 0 {
		t.Fatal("full CRL after rotate")
	}

	// A token allowed only pki_int/issue/web issues, and nothing else.
	if err := c.Sys().PutPolicy("web-issuer", `path "pki_int/issue/web" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"web-issuer"}, TTL: "10m"})
	if err != nil {
		t.Fatal(err)
	}
	wc := nodetest.VaultClient(t, n.URL, tok.Auth.ClientToken)
	if _, err := wc.Logical().Write("pki_int/issue/web", map[string]any{"common_name": "x.example.com"}); err != nil {
		t.Fatalf("narrow token issue: %v", err)
	}
	for _, try := range []func() error{
		func() error {
			_, err := wc.Logical().Write("pki_int/sign-verbatim", map[string]any{"csr": csrPEM})
			return err
		},
		func() error {
			_, err := wc.Logical().Write("pki_int/issue/other", map[string]any{"common_name": "x.example.com"})
			return err
		},
		func() error { _, err := wc.Logical().Read("pki_int/issuer/default"); return err },
		func() error { _, err := wc.Logical().Read("pki_int/key/default"); return err },
		func() error {
			_, err := wc.Logical().Write("pki_int/root/generate/exported", map[string]any{"common_name": "x"})
			return err
		},
		func() error {
			_, err := wc.Logical().Write("pki_int/roles/web", map[string]any{"allow_any_name": true})
			return err
		},
	} {
		if err := try(); vaultStatus(err) != http.StatusForbidden {
			t.Errorf("narrow token: %v, want 403", err)
		}
	}

	// Canary: an exported root's key and every issued key stay out of the
	// logs and the audit log (which HMACs them).
	if err := c.Sys().Mount("pki_x", &vault.MountInput{Type: "pki"}); err != nil {
		t.Fatal(err)
	}
	ex, err := l.Write("pki_x/root/generate/exported", map[string]any{"common_name": "Exported Root", "key_type": "rsa"})
	if err != nil {
		t.Fatal(err)
	}
	exKey := ex.Data["private_key"].(string)
	if !strings.Contains(exKey, "RSA PRIVATE KEY") {
		t.Fatalf("exported key type %q", ex.Data["private_key_type"])
	}
	// A bad import holding that key must not echo it in the error.
	_, err = l.Write("pki_x/config/ca", map[string]any{"pem_bundle": exKey[:len(exKey)-60] + "garbage\n-----END RSA PRIVATE KEY-----\n"})
	if err == nil || strings.Contains(err.Error(), keyBody(exKey)[:40]) {
		t.Fatalf("malformed key import: %v", err)
	}
	_, err = l.Write("pki_int/revoke-with-key", map[string]any{"serial_number": serial, "private_key": exKey})
	if vaultStatus(err) != http.StatusBadRequest || strings.Contains(err.Error(), keyBody(exKey)[:40]) {
		t.Fatalf("revoke-with-key with the wrong key: %v", err)
	}
	auditLog, _ := os.ReadFile(filepath.Join(auditDir, "audit.log"))
	if len(auditLog) == 0 {
		t.Fatal("empty audit log")
	}
	for _, k := range []string{exKey, keyPEM} {
		body := keyBody(k)
		for _, hay := range [][]byte{auditLog, []byte(n.Logs.String())} {
			if bytes.Contains(hay, []byte(body[:40])) || bytes.Contains(hay, []byte(strings.ReplaceAll(body, "\n", "\\n")[:40])) {
				t.Fatal("a private key reached the audit log or the server logs")
			}
		}
	}
}

// keyBody is the base64 body of a PEM key (its first line of it is enough
// to recognise it anywhere).
func keyBody(k string) string {
	lines := strings.Split(strings.TrimSpace(k), "\n")
	return strings.Join(lines[1:len(lines)-1], "\n")
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ":")
}

func publicEqual(a, b any) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(eq)
	return ok && e.Equal(b)
}

func crlHas(crl *x509.RevocationList, c *x509.Certificate) bool {
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
			return true
		}
	}
	return false
}

// pkiGet fetches an unauthenticated path.
func pkiGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// ocspStatus asks the pki_int responder, by POST or GET, without a token.
func ocspStatus(t *testing.T, base string, c, issuer *x509.Certificate, post bool) int {
	t.Helper()
	req, err := ocsp.CreateRequest(c, issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	var resp *http.Response
	if post {
		resp, err = http.Post(base+"/v1/pki_int/ocsp", "application/ocsp-request", bytes.NewReader(req))
	} else {
		resp, err = http.Get(base + "/v1/pki_int/ocsp/" + base64.StdEncoding.EncodeToString(req))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/ocsp-response" {
		t.Fatalf("OCSP: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	r, err := ocsp.ParseResponseForCert(body, c, issuer)
	if err != nil {
		t.Fatalf("OCSP response: %v", err)
	}
	if r.SerialNumber.Cmp(c.SerialNumber) != 0 {
		t.Fatal("OCSP answered for another serial")
	}
	return r.Status
}

// Root rotation with a cross-signed new root, a CA imported with
// config/ca, sign-verbatim, revoke-with-key, generate_lease (revoking the
// lease revokes the certificate), no_store, the key types, config/urls
// and tidy.
func TestPKIRotationImportAndLifecycle(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	l := c.Logical()
	if err := c.Sys().Mount("pki", &vault.MountInput{Type: "pki"}); err != nil {
		t.Fatal(err)
	}
	write := func(path string, data map[string]any) *vault.Secret {
		t.Helper()
		s, err := l.Write(path, data)
		if err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
		return s
	}
	write("pki/config/urls", map[string]any{"issuing_certificates": "http://127.0.0.1:8200/v1/pki/ca", "crl_distribution_points": "http://127.0.0.1:8200/v1/pki/crl",
		"ocsp_servers": "http://127.0.0.1:8200/v1/pki/ocsp"})
	old := write("pki/root/generate/internal", map[string]any{"common_name": "Root", "issuer_name": "root-2026", "key_type": "ed25519", "ttl": "720h"})
	oldRoot := pemCert(t, old.Data["certificate"].(string))
	if len(oldRoot.CRLDistributionPoints) != 1 || len(oldRoot.OCSPServer) != 1 {
		t.Fatalf("config/urls not in the root: %v %v", oldRoot.CRLDistributionPoints, oldRoot.OCSPServer)
	}

	// root/rotate makes a second root; the default stays.
	nw := write("pki/root/rotate/internal", map[string]any{"common_name": "Root", "issuer_name": "root-2027", "key_type": "ec", "ttl": "700h"})
	newRoot := pemCert(t, nw.Data["certificate"].(string))
	cfg, _ := l.Read("pki/config/issuers")
	if cfg.Data["default"] != old.Data["issuer_id"] {
		t.Fatalf("rotate changed the default: %v", cfg.Data)
	}
	// Cross-sign: a CSR for the new root's key, signed by the old root.
	csr := write("pki/intermediate/cross-sign", map[string]any{"common_name": "Root", "key_ref": nw.Data["key_id"]})
	cross := write("pki/issuer/root-2026/sign-intermediate", map[string]any{"csr": csr.Data["csr"], "use_csr_values": true, "ttl": "600h"})
	crossCert := pemCert(t, cross.Data["certificate"].(string))
	if !publicEqual(crossCert.PublicKey, newRoot.PublicKey) || crossCert.CheckSignatureFrom(oldRoot) != nil || !bytes.Equal(crossCert.RawSubject, newRoot.RawSubject) {
		t.Fatal("cross-signed certificate is not the new root's key and subject under the old root")
	}
	set := write("pki/intermediate/set-signed", map[string]any{"certificate": cross.Data["certificate"]})
	if len(set.Data["imported_issuers"].([]any)) != 1 {
		t.Fatalf("set-signed: %v", set.Data)
	}
	write("pki/config/issuers", map[string]any{"default": "root-2027"})
	write("pki/roles/svc", map[string]any{"allowed_domains": "svc.internal", "allow_subdomains": true, "key_type": "rsa", "key_bits": 2048, "ttl": "24h"})
	leaf := write("pki/issue/svc", map[string]any{"common_name": "a.svc.internal"})
	lc := pemCert(t, leaf.Data["certificate"].(string))
	if lc.CheckSignatureFrom(newRoot) != nil {
		t.Fatal("leaf not from the new default root")
	}
	for _, tc := range []struct {
		name  string
		root  *x509.Certificate
		inter []*x509.Certificate
	}{{"new root", newRoot, nil}, {"old root via cross-sign", oldRoot, []*x509.Certificate{crossCert}}} {
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(tc.root)
		for _, i := range tc.inter {
			inter.AddCert(i)
		}
		if _, err := lc.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: "a.svc.internal"}); err != nil {
			t.Errorf("verify leaf trusting the %s: %v", tc.name, err)
		}
	}

	// Key types: ed25519 and EC leaves.
	for _, kt := range []struct {
		typ  string
		bits int
	}{{"ed25519", 0}, {"ec", 384}} {
		write("pki/roles/k-"+kt.typ, map[string]any{"allow_any_name": true, "key_type": kt.typ, "key_bits": kt.bits, "ttl": "1h"})
		s := write("pki/issue/k-"+kt.typ, map[string]any{"common_name": "k.test"})
		if s.Data["private_key_type"] != kt.typ {
			t.Errorf("key type %v, want %s", s.Data["private_key_type"], kt.typ)
		}
	}

	// config/ca: import a CA made elsewhere, with its key; it can sign.
	extKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: bigOne(), Subject: pkix.Name{CommonName: "External CA"}, NotBefore: oldRoot.NotBefore, NotAfter: oldRoot.NotAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	extDER, _ := x509.CreateCertificate(rand.Reader, tpl, tpl, &extKey.PublicKey, extKey)
	extKeyDER, _ := x509.MarshalECPrivateKey(extKey)
	extKeyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: extKeyDER}))
	imp := write("pki/config/ca", map[string]any{"pem_bundle": extKeyPEM + string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: extDER}))})
	if len(imp.Data["imported_issuers"].([]any)) != 1 || len(imp.Data["imported_keys"].([]any)) != 1 {
		t.Fatalf("config/ca: %v", imp.Data)
	}
	extID := imp.Data["imported_issuers"].([]any)[0].(string)
	write("pki/issuer/"+extID, map[string]any{"issuer_name": "external", "leaf_not_after_behavior": "truncate"})
	viaExt := write("pki/issuer/external/issue/svc", map[string]any{"common_name": "b.svc.internal"})
	if pemCert(t, viaExt.Data["certificate"].(string)).CheckSignatureFrom(pemCert(t, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: extDER})))) != nil {
		t.Fatal("issue via the imported issuer")
	}

	// sign-verbatim keeps the CSR's names (ones no role allows).
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "verbatim.other", Organization: []string{"Org"}},
		DNSNames: []string{"verbatim.other"}}, k)
	vb := write("pki/sign-verbatim", map[string]any{"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})), "ttl": "1h"})
	vc := pemCert(t, vb.Data["certificate"].(string))
	if vc.Subject.CommonName != "verbatim.other" || len(vc.Subject.Organization) != 1 || vc.DNSNames[0] != "verbatim.other" {
		t.Fatalf("sign-verbatim subject %v", vc.Subject)
	}

	// revoke-with-key: the wrong key is refused, the right one revokes.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherDER, _ := x509.MarshalECPrivateKey(other)
	if _, err := l.Write("pki/revoke-with-key", map[string]any{"serial_number": vb.Data["serial_number"],
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: otherDER}))}); vaultStatus(err) != http.StatusBadRequest {
		t.Fatalf("revoke-with-key with another key: %v", err)
	}
	kDER, _ := x509.MarshalECPrivateKey(k)
	write("pki/revoke-with-key", map[string]any{"serial_number": vb.Data["serial_number"], "private_key": string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kDER}))})
	if rv, _ := l.List("pki/certs/revoked"); rv == nil || len(rv.Data["keys"].([]any)) != 1 {
		t.Fatalf("certs/revoked: %v", rv)
	}

	// generate_lease: revoking the lease revokes the certificate.
	write("pki/roles/leased", map[string]any{"allow_any_name": true, "key_type": "ec", "generate_lease": true, "ttl": "1h"})
	ls := write("pki/issue/leased", map[string]any{"common_name": "leased.test"})
	if ls.LeaseID == "" {
		t.Fatal("generate_lease gave no lease")
	}
	if err := c.Sys().Revoke(ls.LeaseID); err != nil {
		t.Fatalf("revoke lease: %v", err)
	}
	cs, err := l.Read("pki/cert/" + ls.Data["serial_number"].(string))
	if err != nil || fmt.Sprint(cs.Data["revocation_time"]) == "0" {
		t.Fatalf("certificate after lease revocation: %v %v", cs, err)
	}

	// no_store: not listed, not readable by serial.
	write("pki/roles/nostore", map[string]any{"allow_any_name": true, "key_type": "ec", "no_store": true, "ttl": "1h"})
	ns := write("pki/issue/nostore", map[string]any{"common_name": "nostore.test"})
	if s, err := l.Read("pki/cert/" + ns.Data["serial_number"].(string)); err != nil || s != nil {
		t.Fatalf("no_store certificate readable: %v %v", s, err)
	}
	// ...but revocable with the certificate itself.
	write("pki/revoke", map[string]any{"certificate": ns.Data["certificate"]})

	// tidy with a zero safety buffer keeps unexpired entries.
	before, _ := l.List("pki/certs")
	if _, err := l.Write("pki/tidy", map[string]any{"tidy_cert_store": true, "tidy_revoked_certs": true, "safety_buffer": "0s"}); err != nil {
		t.Fatalf("tidy: %v", err)
	}
	st, err := l.Read("pki/tidy-status")
	if err != nil || st.Data["state"] != "Finished" || fmt.Sprint(st.Data["cert_store_deleted_count"]) != "0" {
		t.Fatalf("tidy-status: %v %v", st, err)
	}
	after, _ := l.List("pki/certs")
	if len(after.Data["keys"].([]any)) != len(before.Data["keys"].([]any)) {
		t.Fatal("tidy deleted unexpired certificates")
	}
}

func bigOne() *big.Int { return big.NewInt(1) }
