package sink_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/watch"
	"github.com/keyward/keyward/internal/watch/sink"
)

// harness is an attached dispatcher over in-memory storage, with a
// settable clock, a sleeper that records its waits without waiting, and
// its logs in a buffer.
type harness struct {
	d     *sink.Dispatcher
	clock *clocktest.Clock
	store *logicaltest.InmemStorage
	logs  *clocktest.Buffer
	mu    sync.Mutex
	waits []time.Duration
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{clock: clocktest.New(time.Time{}), store: &logicaltest.InmemStorage{}, logs: &clocktest.Buffer{}}
	h.d = h.build()
	if err := h.d.Attach(context.Background(), h.store); err != nil {
		t.Fatalf("Attach = %v", err)
	}
	t.Cleanup(h.d.Detach)
	return h
}

func (h *harness) build() *sink.Dispatcher {
	return sink.New(sink.Options{Now: h.clock.Now, AfterFunc: h.clock.AfterFunc, Hostname: "kw-test",
		Sleep: func(ctx context.Context, d time.Duration) error {
			h.mu.Lock()
			h.waits = append(h.waits, d)
			h.mu.Unlock()
			return ctx.Err()
		},
		Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
}

func (h *harness) Waits() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.waits...)
}

// put creates or updates a sink, failing the test on error.
func (h *harness) put(t testing.TB, name string, data map[string]any) {
	t.Helper()
	prev, err := h.d.Sink(name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sink.Apply(name, prev, data)
	if err != nil {
		t.Fatalf("Apply(%s) = %v", name, err)
	}
	if err := h.d.PutSink(context.Background(), c); err != nil {
		t.Fatalf("PutSink(%s) = %v", name, err)
	}
}

// alert is a critical open alert with an id.
func alert(id string, sev watch.Severity) watch.Alert {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return watch.Alert{ID: id, Rule: "bulk-read", Severity: sev, Status: watch.AlertOpen, GroupKey: "bulk-read|entity:e1",
		Identity: watch.Identity{EntityID: "e1", Accessor: "acc-1", AuthMount: "auth/jwt/", AuthType: "jwt", Role: "deploy",
			DisplayName: "jwt-ci", Claims: map[string]string{"repository": "acme/app"}},
		Summary:  "jwt-ci read 120 distinct secrets in 60s",
		Evidence: map[string]string{"paths": "secret/data/prod/*", "count": "120"}, FirstSeen: now, LastSeen: now, Count: 1}
}

// received is one request a webhook receiver got.
type received struct {
	Header http.Header
	Body   []byte
}

// receiver is an HTTP server in the test recording every POST; fail says
// which status to answer the n-th request (1-based) with, 0 for 200.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []received
	fail func(n int) int
	n    int
}

func newReceiver(t testing.TB, fail func(n int) int) *receiver {
	t.Helper()
	r := &receiver{fail: fail}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.n++
	n := r.n
	r.got = append(r.got, received{Header: req.Header.Clone(), Body: body})
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if code := fail(n); code != 0 {
			w.WriteHeader(code)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) Got() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) SetFail(f func(int) int) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

// body decodes a webhook body.
type body struct {
	Version  int         `json:"version"`
	Delivery string      `json:"delivery"`
	Kind     string      `json:"kind"`
	Sink     string      `json:"sink"`
	Level    int         `json:"escalation_level"`
	Alert    watch.Alert `json:"alert"`
}

func decodeBody(t testing.TB, b []byte) body {
	t.Helper()
	var out body
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("webhook body %q: %v", b, err)
	}
	return out
}

// testCA is a CA and a server certificate for 127.0.0.1 and localhost
// it signed; CAFile holds the CA's PEM.
type testCA struct {
	Server tls.Certificate
	CAFile string
}

func newTestCA(t testing.TB) testCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sink test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testCA{Server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, CAFile: file}
}

// randomText returns a planted canary value.
func randomText(prefix string) string { return prefix + rand.Text() }
