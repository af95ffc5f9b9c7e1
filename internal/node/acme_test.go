package node_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	vault "github.com/hashicorp/vault/api"
	"github.com/miekg/dns"
	"golang.org/x/crypto/acme"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// testDNS answers A 127.0.0.1 for every name under acme.test. and the TXT
// records a test puts in it.
type testDNS struct {
	mu   sync.Mutex
	txt  map[string][]string
	addr string
}

func startDNS(t testing.TB) *testDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &testDNS{txt: map[string][]string{}, addr: pc.LocalAddr().String()}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(d.serve)}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return d
}

func (d *testDNS) set(name, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.txt[dns.Fqdn(strings.ToLower(name))] = []string{value}
}

func (d *testDNS) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range r.Question {
		name := strings.ToLower(q.Name)
		hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET}
		switch {
		case q.Qtype == dns.TypeA && strings.HasSuffix(name, ".acme.test."):
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(127, 0, 0, 1)})
		case q.Qtype == dns.TypeTXT:
			for _, v := range d.txt[name] {
				m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: []string{v}})
			}
		}
	}
	_ = w.WriteMsg(m)
}

// challengeServers are the http-01 and tls-alpn-01 responders a client
// would run, on loopback ports.
type challengeServers struct {
	mu       sync.Mutex
	http     map[string]string // token → key authorization
	alpn     map[string]*tls.Certificate
	httpPort int
	tlsPort  int
}

func startChallengeServers(t testing.TB) *challengeServers {
	t.Helper()
	cs := &challengeServers{http: map[string]string{}, alpn: map[string]*tls.Certificate{}}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: time.Minute, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.URL.Path, "/.well-known/acme-challenge/")
		cs.mu.Lock()
		ka, found := cs.http[tok]
		cs.mu.Unlock()
		if !ok || !found {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(ka))
	})}
	go func() { _ = srv.Serve(hl) }()
	t.Cleanup(func() { _ = srv.Close() })
	cs.httpPort = hl.Addr().(*net.TCPAddr).Port

	tl, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{NextProtos: []string{"acme-tls/1"},
		GetCertificate: func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
			cs.mu.Lock()
			defer cs.mu.Unlock()
			if c := cs.alpn[hi.ServerName]; c != nil {
				return c, nil
			}
			return nil, errors.New("no challenge certificate")
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tl.Close() })
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(time.Minute))
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()
	cs.tlsPort = tl.Addr().(*net.TCPAddr).Port
	return cs
}

type acmeEnv struct {
	c     *vault.Client
	audit string
	root  *x509.Certificate
	url   string // the pki_int mount's URL
	dns   *testDNS
	chals *challengeServers
}

// setupACME mounts pki (root) and pki_int (intermediate) and enables
// ACME on pki_int, with validation allowed to reach loopback, pointed at
// the test's DNS server and its challenge ports.
func setupACME(t *testing.T, extra map[string]any) *acmeEnv {
	t.Helper()
	auditDir := t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{AuditDir: auditDir})
	c := n.Client(t)
	enableFileAudit(t, c, filepath.Join(auditDir, "audit.log"))
	rootPEM, _ := pkiSetup(t, c)
	e := &acmeEnv{c: c, audit: filepath.Join(auditDir, "audit.log"), root: pemCert(t, rootPEM), url: n.URL + "/v1/pki_int", dns: startDNS(t), chals: startChallengeServers(t)}
	l := c.Logical()
	if _, err := l.Write("pki_int/config/cluster", map[string]any{"path": e.url}); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{"enabled": true, "allowed_validation_networks": []string{"127.0.0.0/8"}, "dns_resolver": e.dns.addr,
		"http_challenge_port": e.chals.httpPort, "tls_challenge_port": e.chals.tlsPort}
	for k, v := range extra {
		cfg[k] = v
	}
	if _, err := l.Write("pki_int/config/acme", cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write("pki_int/roles/web", map[string]any{"allowed_domains": "acme.test", "allow_subdomains": true,
		"key_type": "any", "ttl": "1h"}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *acmeEnv) client(t testing.TB, dir string) *acme.Client {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &acme.Client{Key: k, DirectoryURL: e.url + "/" + dir + "directory", UserAgent: "keyward-test"}
}

// solve completes every authorization of o with challenge type typ.
func (e *acmeEnv) solve(t testing.TB, ctx context.Context, cl *acme.Client, o *acme.Order, typ string) error {
	t.Helper()
	for _, u := range o.AuthzURLs {
		z, err := cl.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var ch *acme.Challenge
		for _, c := range z.Challenges {
			if c.Type == typ {
				ch = c
			}
		}
		if ch == nil {
			t.Fatalf("authorization %s offers no %s", z.Identifier.Value, typ)
		}
		name := z.Identifier.Value
		switch typ {
		case "http-01":
			ka, err := cl.HTTP01ChallengeResponse(ch.Token)
			if err != nil {
				t.Fatal(err)
			}
			e.chals.mu.Lock()
			e.chals.http[ch.Token] = ka
			e.chals.mu.Unlock()
		case "dns-01":
			rec, err := cl.DNS01ChallengeRecord(ch.Token)
			if err != nil {
				t.Fatal(err)
			}
			e.dns.set("_acme-challenge."+name, rec)
		case "tls-alpn-01":
			cert, err := cl.TLSALPN01ChallengeCert(ch.Token, name)
			if err != nil {
				t.Fatal(err)
			}
			e.chals.mu.Lock()
			e.chals.alpn[name] = &cert
			e.chals.mu.Unlock()
		}
		if _, err := cl.Accept(ctx, ch); err != nil {
			return err
		}
		if _, err := cl.WaitAuthorization(ctx, z.URI); err != nil {
			return err
		}
	}
	return nil
}

func csrFor(t testing.TB, names ...string) ([]byte, crypto.Signer) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, k)
	if err != nil {
		t.Fatal(err)
	}
	return der, k
}

// verifyChain checks that the chain the server returned is a TLS server
// certificate for name under the PKI root.
func (e *acmeEnv) verifyChain(t testing.TB, ders [][]byte, name string) *x509.Certificate {
	t.Helper()
	if len(ders) < 2 {
		t.Fatalf("chain has %d certificates, want leaf and intermediate", len(ders))
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		t.Fatal(err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(e.root)
	for _, d := range ders[1:] {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			t.Fatal(err)
		}
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("issued certificate does not verify: %v", err)
	}
	return leaf
}

// A real ACME client (golang.org/x/crypto/acme) registers, orders, proves
// control of the name with http-01 against its own loopback server,
// finalizes and downloads a chain that verifies against the root; the
// same client completes dns-01 against the test's DNS server and
// tls-alpn-01, through the role directory too; and revokes what it got.
func TestACMEIssuance(t *testing.T) {
	e := setupACME(t, nil)
	ctx := context.Background()
	for _, tc := range []struct{ dir, typ, name string }{
		{"acme/", "http-01", "www.acme.test"},
		{"roles/web/acme/", "dns-01", "api.acme.test"},
		{"roles/web/acme/", "tls-alpn-01", "tls.acme.test"},
		{"acme/", "dns-01", "*.wild.acme.test"},
	} {
		t.Run(tc.typ+" "+tc.dir, func(t *testing.T) {
			cl := e.client(t, tc.dir)
			acct, err := cl.Register(ctx, &acme.Account{Contact: []string{"mailto:ops@acme.test"}}, acme.AcceptTOS)
			if err != nil {
				t.Fatalf("register: %v", err)
			}
			if acct.Status != acme.StatusValid || !strings.HasPrefix(acct.URI, e.url+"/"+tc.dir+"account/") {
				t.Fatalf("account = %+v", acct)
			}
			o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(tc.name))
			if err != nil {
				t.Fatalf("new-order: %v", err)
			}
			if o.Status != acme.StatusPending || len(o.AuthzURLs) != 1 {
				t.Fatalf("order = %+v", o)
			}
			if err := e.solve(t, ctx, cl, o, tc.typ); err != nil {
				t.Fatalf("%s: %v", tc.typ, err)
			}
			if o, err = cl.WaitOrder(ctx, o.URI); err != nil || o.Status != acme.StatusReady {
				t.Fatalf("order after %s = %+v, %v", tc.typ, o, err)
			}
			csr, certKey := csrFor(t, tc.name)
			ders, certURL, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
			if err != nil {
				t.Fatalf("finalize: %v", err)
			}
			leaf := e.verifyChain(t, ders, strings.Replace(tc.name, "*", "x", 1))
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != tc.name {
				t.Fatalf("leaf names %q, want exactly %q", leaf.DNSNames, tc.name)
			}
			if acct.OrdersURL != acct.URI+"/orders" {
				t.Fatalf("orders URL %q", acct.OrdersURL)
			}
			again, err := cl.FetchCert(ctx, certURL, true)
			if err != nil || len(again) != len(ders) {
				t.Fatalf("fetch cert: %d certs, %v", len(again), err)
			}
			stranger := e.client(t, tc.dir)
			if _, err := stranger.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
				t.Fatal(err)
			}
			if err := stranger.RevokeCert(ctx, nil, ders[0], acme.CRLReasonUnspecified); err == nil {
				t.Fatal("another account revoked the certificate")
			}
			// The ordering account revokes, or anyone holding the
			// certificate's key.
			var by crypto.Signer
			if tc.typ == "http-01" {
				by = certKey
			}
			if err := cl.RevokeCert(ctx, by, ders[0], acme.CRLReasonUnspecified); err != nil {
				t.Fatalf("revoke-cert: %v", err)
			}
		})
	}
	// The revocations are the engine's own: the CRL lists them.
	revoked, err := e.c.Logical().List("pki_int/certs/revoked")
	if err != nil || revoked == nil || len(revoked.Data["keys"].([]any)) != 4 {
		t.Fatalf("certs/revoked = %v, %v", revoked, err)
	}
}

func acmeErr(err error) *acme.Error {
	var ae *acme.Error
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

// Wrong key authorizations make the authorization and the order invalid;
// a CSR naming anything the order (or the role) does not is refused at
// finalize; an order for a name outside the role is refused at once.
func TestACMERefusals(t *testing.T) {
	e := setupACME(t, nil)
	ctx := context.Background()
	cl := e.client(t, "roles/web/acme/")
	if _, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatal(err)
	}

	t.Run("account of another directory", func(t *testing.T) {
		a, err := cl.GetReg(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		id := a.URI[strings.LastIndex(a.URI, "/")+1:]
		other := &acme.Client{Key: cl.Key, DirectoryURL: e.url + "/acme/directory", KID: acme.KeyID(e.url + "/acme/account/" + id)}
		_, err = other.AuthorizeOrder(ctx, acme.DomainIDs("x.acme.test"))
		if ae := acmeErr(err); ae == nil || !strings.HasSuffix(ae.ProblemType, ":accountDoesNotExist") {
			t.Fatalf("order through another directory with this account: %v", err)
		}
		// The same key registers a separate account there.
		fresh := &acme.Client{Key: cl.Key, DirectoryURL: e.url + "/acme/directory"}
		b, err := fresh.Register(ctx, &acme.Account{}, acme.AcceptTOS)
		if err != nil || b.URI == a.URI {
			t.Fatalf("register the key in acme/: %v, %v", b, err)
		}
	})

	t.Run("wrong key authorization", func(t *testing.T) {
		o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs("bad.acme.test"))
		if err != nil {
			t.Fatal(err)
		}
		z, err := cl.GetAuthorization(ctx, o.AuthzURLs[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range z.Challenges {
			if ch.Type != "http-01" {
				continue
			}
			e.chals.mu.Lock()
			e.chals.http[ch.Token] = ch.Token + ".not-the-thumbprint"
			e.chals.mu.Unlock()
			if _, err := cl.Accept(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := cl.WaitAuthorization(ctx, z.URI); err == nil {
			t.Fatal("authorization with a wrong key authorization became valid")
		}
		z, err = cl.GetAuthorization(ctx, z.URI)
		if err != nil || z.Status != acme.StatusInvalid {
			t.Fatalf("authorization = %v, %v; want invalid", z.Status, err)
		}
		if o, err = cl.GetOrder(ctx, o.URI); err == nil && o.Status != acme.StatusInvalid {
			t.Fatalf("order status %s, want invalid", o.Status)
		}
		csr, _ := csrFor(t, "bad.acme.test")
		if _, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csr, true); err == nil {
			t.Fatal("an invalid order was finalized")
		}
	})

	t.Run("loopback not allowed", func(t *testing.T) {
		l := e.c.Logical()
		if _, err := l.Write("pki_int/config/acme", map[string]any{"allowed_validation_networks": []string{}}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := l.Write("pki_int/config/acme", map[string]any{"allowed_validation_networks": []string{"127.0.0.0/8"}}); err != nil {
				t.Fatal(err)
			}
		}()
		for _, typ := range []string{"http-01", "tls-alpn-01"} {
			o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(typ+".ssrf.acme.test"))
			if err != nil {
				t.Fatal(err)
			}
			err = e.solve(t, ctx, cl, o, typ)
			var ae *acme.AuthorizationError
			if !errors.As(err, &ae) || len(ae.Errors) == 0 || !strings.Contains(ae.Error(), "may not reach") {
				t.Fatalf("%s to a name on 127.0.0.1 without loopback allowed: %v", typ, err)
			}
		}
	})

	t.Run("name outside the role", func(t *testing.T) {
		_, err := cl.AuthorizeOrder(ctx, acme.DomainIDs("www.example.com"))
		if ae := acmeErr(err); ae == nil || !strings.HasSuffix(ae.ProblemType, ":rejectedIdentifier") {
			t.Fatalf("order for a name the role refuses: %v", err)
		}
	})

	t.Run("csr beyond the order", func(t *testing.T) {
		o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs("ok.acme.test"))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.solve(t, ctx, cl, o, "http-01"); err != nil {
			t.Fatal(err)
		}
		for _, names := range [][]string{{"ok.acme.test", "other.acme.test"}, {"ok.acme.test", "www.example.com"}, {"other.acme.test"}} {
			csr, _ := csrFor(t, names...)
			_, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
			if ae := acmeErr(err); ae == nil || !strings.HasSuffix(ae.ProblemType, ":badCSR") {
				t.Errorf("finalize with CSR for %q: %v, want badCSR", names, err)
			}
		}
		csr, _ := csrFor(t, "ok.acme.test")
		ders, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
		if err != nil {
			t.Fatalf("finalize with the order's names: %v", err)
		}
		e.verifyChain(t, ders, "ok.acme.test")
	})
}

// postRaw sends one ACME POST with the given JWS body and returns the
// status and problem type.
func postRaw(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/jose+json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		Type string `json:"type"`
	}
	_ = jsonDecode(resp.Body, &p)
	return resp.StatusCode, p.Type
}

// Each nonce is good once: a request replayed byte for byte is refused
// with badNonce, and so is one with a nonce the server never issued.
func TestACMENonceReplay(t *testing.T) {
	e := setupACME(t, nil)
	dir := e.url + "/acme/"
	resp, err := http.Head(dir + "new-nonce")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	nonce := resp.Header.Get("Replay-Nonce")
	if nonce == "" || resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Link"), `rel="index"`) {
		t.Fatalf("new-nonce: %d, nonce %q, link %q", resp.StatusCode, nonce, resp.Header.Get("Link"))
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	body := signJWS(t, k, nonce, dir+"new-account", `{"termsOfServiceAgreed":true}`)
	created, err := http.Post(dir+"new-account", "application/jose+json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	created.Body.Close()
	acctURL := created.Header.Get("Location")
	if created.StatusCode != http.StatusCreated || !strings.HasPrefix(acctURL, dir+"account/") {
		t.Fatalf("first new-account = %d, Location %q", created.StatusCode, acctURL)
	}
	if st, typ := postRaw(t, dir+"new-account", body); st != http.StatusBadRequest || typ != "urn:ietf:params:acme:error:badNonce" {
		t.Fatalf("replayed new-account = %d %s, want 400 badNonce", st, typ)
	}
	forged := signJWS(t, k, "bm90LWEtbm9uY2U", dir+"new-account", `{"termsOfServiceAgreed":true}`)
	if st, typ := postRaw(t, dir+"new-account", forged); st != http.StatusBadRequest || typ != "urn:ietf:params:acme:error:badNonce" {
		t.Fatalf("made-up nonce = %d %s, want 400 badNonce", st, typ)
	}
	// The signature covers the URL: a request signed for another URL is refused.
	resp, _ = http.Head(dir + "new-nonce")
	resp.Body.Close()
	wrongURL := signJWS(t, k, resp.Header.Get("Replay-Nonce"), dir+"new-order", `{"termsOfServiceAgreed":true}`)
	if st, _ := postRaw(t, dir+"new-account", wrongURL); st != http.StatusUnauthorized {
		t.Fatalf("JWS for another URL = %d, want 401", st)
	}
	// The account's orders list answers a POST-as-GET signed by its kid.
	resp, _ = http.Head(dir + "new-nonce")
	resp.Body.Close()
	kid := acctURL
	asGet := signJWSWith(t, k, &jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"nonce": resp.Header.Get("Replay-Nonce"),
		"url": kid + "/orders", "kid": kid}}, "")
	if st, typ := postRaw(t, kid+"/orders", asGet); st != http.StatusOK {
		t.Fatalf("account orders = %d %s", st, typ)
	}
	// Without a token, the requests are still audited.
	log, err := os.ReadFile(e.audit)
	if err != nil || strings.Count(string(log), `"path":"pki_int/acme/new-account"`) < 2*4 {
		t.Fatalf("audit log has %d entries for acme/new-account, want a request and a response for each of 4 (err %v)",
			strings.Count(string(log), `"path":"pki_int/acme/new-account"`), err)
	}
}

// With eab_policy new-account-required, an account needs a binding key
// an operator created; the key binds once.
func TestACMEExternalAccountBinding(t *testing.T) {
	e := setupACME(t, map[string]any{"eab_policy": "new-account-required"})
	ctx := context.Background()
	cl := e.client(t, "acme/")
	if _, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS); err == nil {
		t.Fatal("account created without EAB")
	} else if ae := acmeErr(err); ae == nil || !strings.HasSuffix(ae.ProblemType, ":externalAccountRequired") {
		t.Fatalf("register without EAB: %v", err)
	}
	s, err := e.c.Logical().Write("pki_int/acme/new-eab", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := base64URL(s.Data["key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	eab := &acme.ExternalAccountBinding{KID: s.Data["id"].(string), Key: key}
	if _, err := cl.Register(ctx, &acme.Account{ExternalAccountBinding: eab}, acme.AcceptTOS); err != nil {
		t.Fatalf("register with EAB: %v", err)
	}
	other := e.client(t, "acme/")
	if _, err := other.Register(ctx, &acme.Account{ExternalAccountBinding: eab}, acme.AcceptTOS); err == nil {
		t.Fatal("an EAB key bound a second account")
	}
	wrong := &acme.ExternalAccountBinding{KID: eab.KID, Key: []byte("0123456789abcdef0123456789abcdef")}
	s2, _ := e.c.Logical().Write("pki_int/acme/new-eab", nil)
	wrong.KID = s2.Data["id"].(string)
	if _, err := other.Register(ctx, &acme.Account{ExternalAccountBinding: wrong}, acme.AcceptTOS); err == nil {
		t.Fatal("EAB with the wrong key accepted")
	}
	if l, err := e.c.Logical().List("pki_int/eab"); err != nil || l == nil || len(l.Data["keys"].([]any)) != 1 {
		t.Fatalf("eab list = %v, %v; want the one unused key", l, err)
	}
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(v) }

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// signJWS builds an ACME request by hand (ES256, jwk in the header).
func signJWS(t *testing.T, k *ecdsa.PrivateKey, nonce, url, payload string) []byte {
	t.Helper()
	return signJWSWith(t, k, &jose.SignerOptions{EmbedJWK: true, ExtraHeaders: map[jose.HeaderKey]any{"nonce": nonce, "url": url}}, payload)
}

func signJWSWith(t *testing.T, k *ecdsa.PrivateKey, opts *jose.SignerOptions, payload string) []byte {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, opts)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(sig.FullSerialize())
}

// Directories follow config/acme: forbid closes acme/, allowed_roles and
// allowed_issuers close the others, issuer/REF/acme/ signs with REF;
// key-change moves the account to a new key and deactivation ends it.
func TestACMEDirectories(t *testing.T) {
	e := setupACME(t, nil)
	ctx := context.Background()
	l := e.c.Logical()
	status := func(dir string) int {
		t.Helper()
		resp, err := http.Get(e.url + "/" + dir + "directory")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	iss, err := l.Read("pki_int/issuer/default")
	if err != nil {
		t.Fatal(err)
	}
	issID := iss.Data["issuer_id"].(string)
	for _, dir := range []string{"acme/", "roles/web/acme/", "issuer/default/acme/", "issuer/" + issID + "/roles/web/acme/"} {
		if st := status(dir); st != http.StatusOK {
			t.Errorf("%sdirectory = %d", dir, st)
		}
	}
	if st := status("roles/nope/acme/"); st != http.StatusNotFound {
		t.Errorf("directory of an unknown role = %d, want 404", st)
	}
	// A full order through issuer/ID/roles/web/acme/ signs with that issuer.
	cl := e.client(t, "issuer/"+issID+"/roles/web/acme/")
	if _, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs("iss.acme.test"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.solve(t, ctx, cl, o, "http-01"); err != nil {
		t.Fatal(err)
	}
	csr, _ := csrFor(t, "iss.acme.test")
	ders, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		t.Fatal(err)
	}
	e.verifyChain(t, ders, "iss.acme.test")

	// key-change: the old key no longer works, the new one does.
	oldKey := cl.Key
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := cl.AccountKeyRollover(ctx, newKey); err != nil {
		t.Fatalf("key-change: %v", err)
	}
	if _, err := cl.GetReg(ctx, ""); err != nil {
		t.Fatalf("account with the new key: %v", err)
	}
	stale := &acme.Client{Key: oldKey, DirectoryURL: cl.DirectoryURL, KID: cl.KID}
	if _, err := stale.GetReg(ctx, ""); err == nil {
		t.Fatal("the old key still signs for the account")
	}
	if err := cl.DeactivateReg(ctx); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	if _, err := cl.AuthorizeOrder(ctx, acme.DomainIDs("iss.acme.test")); err == nil {
		t.Fatal("a deactivated account ordered")
	}

	if _, err := l.Write("pki_int/config/acme", map[string]any{"default_directory_policy": "forbid", "allowed_roles": []string{"other"}}); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]int{"acme/": http.StatusForbidden, "roles/web/acme/": http.StatusForbidden, "issuer/default/acme/": http.StatusForbidden} {
		if st := status(dir); st != want {
			t.Errorf("%sdirectory with forbid and allowed_roles=[other] = %d, want %d", dir, st, want)
		}
	}
	if _, err := l.Write("pki_int/config/acme", map[string]any{"default_directory_policy": "sign-verbatim", "allowed_roles": []string{"*"},
		"allowed_issuers": []string{"not-this-one"}}); err != nil {
		t.Fatal(err)
	}
	if st := status("acme/"); st != http.StatusForbidden {
		t.Errorf("acme/directory with the issuer not allowed = %d, want 403", st)
	}
	for _, bad := range []map[string]any{{"default_directory_policy": "role:missing"}, {"eab_policy": "sometimes"},
		{"allowed_validation_networks": []string{"not-a-cidr"}}, {"http_challenge_port": 0}, {"dns_resolver": "no-port"}} {
		if _, err := l.Write("pki_int/config/acme", bad); err == nil {
			t.Errorf("config/acme accepted %v", bad)
		}
	}
}

// BenchmarkACMEOrder measures one whole ACME issuance through a real
// listener: new-order, http-01 validated against a loopback server,
// finalize (EC P-256 CSR, EC P-256 issuer) and certificate download.
func BenchmarkACMEOrder(b *testing.B) {
	n := nodetest.StartWith(b, nodetest.Options{Dir: b.TempDir()})
	do := requester(b, n.URL, n.RootToken.Reveal())
	chals := startChallengeServers(b)
	e := &acmeEnv{url: n.URL + "/v1/pki", chals: chals, dns: startDNS(b)}
	do("POST", "sys/mounts/pki", []byte(`{"type":"pki"}`))
	do("POST", "pki/root/generate/internal", []byte(`{"common_name":"Bench Root","key_type":"ec","ttl":"8760h"}`))
	do("POST", "pki/config/cluster", []byte(`{"path":"`+e.url+`"}`))
	do("POST", "pki/config/acme", []byte(fmt.Sprintf(`{"enabled":true,"allowed_validation_networks":["127.0.0.0/8"],"dns_resolver":%q,"http_challenge_port":%d}`,
		e.dns.addr, chals.httpPort)))
	ctx := context.Background()
	csr, _ := csrFor(b, "bench.acme.test")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A new account each time: one account is held to 10 requests a
		// second, which would be what this measured.
		cl := e.client(b, "acme/")
		if _, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
			b.Fatal(err)
		}
		o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs("bench.acme.test"))
		if err != nil {
			b.Fatal(err)
		}
		if err := e.solve(b, ctx, cl, o, "http-01"); err != nil {
			b.Fatal(err)
		}
		if _, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csr, true); err != nil {
			b.Fatal(err)
		}
	}
}

// An IP identifier (RFC 8738) is validated by http-01 at the address
// itself and ends up as an IP SAN; a CSR with another IP is refused.
func TestACMEIPIdentifier(t *testing.T) {
	e := setupACME(t, nil)
	ctx := context.Background()
	cl := e.client(t, "acme/")
	if _, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	// An IP address as a dns identifier would become a DNS SAN: refused.
	if _, err := cl.AuthorizeOrder(ctx, acme.DomainIDs("127.0.0.1")); acmeErr(err) == nil || !strings.HasSuffix(acmeErr(err).ProblemType, ":rejectedIdentifier") {
		t.Fatalf("dns identifier 127.0.0.1: %v", err)
	}
	o, err := cl.AuthorizeOrder(ctx, acme.IPIDs("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	z, err := cl.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(z.Challenges) != 1 || z.Challenges[0].Type != "http-01" {
		t.Fatalf("an IP identifier offers %v, want http-01 only", z.Challenges)
	}
	if err := e.solve(t, ctx, cl, o, "http-01"); err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr := func(ips ...net.IP) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{IPAddresses: ips}, k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	if _, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csr(net.IPv4(127, 0, 0, 1), net.IPv4(10, 0, 0, 1)), true); err == nil {
		t.Fatal("a CSR with an IP outside the order was signed")
	}
	ders, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csr(net.IPv4(127, 0, 0, 1)), true)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		t.Fatal(err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(e.root)
	for _, d := range ders[1:] {
		c, _ := x509.ParseCertificate(d)
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil || len(leaf.IPAddresses) != 1 ||
		!leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || len(leaf.DNSNames) != 0 {
		t.Fatalf("leaf IPs %v DNS %v, verify %v", leaf.IPAddresses, leaf.DNSNames, err)
	}
}
