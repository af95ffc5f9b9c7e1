package cli

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// pkiNode starts a server with pki mounted, an EC root, and the role web
// (names under example.com, leaves of ttl), and returns it with a root
// client.
func pkiNode(t *testing.T, ttl string) (*nodetest.Node, *api.Client) {
	t.Helper()
	n := nodetest.Start(t)
	c, err := api.New(api.Config{Address: n.URL, Token: api.NewToken(n.RootToken.Reveal())})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, w := range []struct {
		path string
		data map[string]any
	}{
		{"sys/mounts/pki", map[string]any{"type": "pki"}},
		{"pki/root/generate/internal", map[string]any{"common_name": "Agent Test Root", "key_type": "ec", "ttl": "48h"}},
		{"pki/roles/web", map[string]any{"allowed_domains": "example.com", "allow_subdomains": true, "key_type": "ec", "ttl": ttl, "max_ttl": "2h"}},
	} {
		if _, err := c.Write(ctx, w.path, w.data); err != nil {
			t.Fatalf("write %s: %v", w.path, err)
		}
	}
	return n, c
}

// deadClient is a client for an address where nothing listens: a server
// that is down.
func deadClient(t *testing.T) *api.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := api.New(api.Config{Address: "http://" + addr, Token: api.NewToken("unused")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readLeaf(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, certFile))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pem.Decode(b)
	if p == nil {
		t.Fatalf("%s holds no PEM", certFile)
	}
	c, err := x509.ParseCertificate(p.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCertAgentRenewsOnFakeClock drives the agent's renewal loop with a
// settable clock against a real server: it issues and reloads at once,
// does nothing before two thirds of the certificate's lifetime, renews at
// that point, and, while the server is down, keeps the written certificate
// and retries with a growing backoff until the server is back, then writes
// and reloads the new one. Cancelling ends it without error.
func TestCertAgentRenewsOnFakeClock(t *testing.T) {
	t.Parallel()
	_, live := pkiNode(t, "1h")
	dead := deadClient(t)
	var server atomic.Pointer[api.Client]
	server.Store(live)

	dir := t.TempDir()
	clk := clocktest.New(time.Now())
	logs := &clocktest.Buffer{}
	var (
		mu      sync.Mutex
		reloads []string // serials, in the order reloaded
	)
	reloaded := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), reloads...) }
	a := &certAgent{
		issue: func(ctx context.Context) (*api.IssuedCertificate, error) {
			return server.Load().IssueCertificate(ctx, "pki", "web", api.IssueRequest{CommonName: "www.example.com"})
		},
		write: func(ctx context.Context, ic *api.IssuedCertificate) (*x509.Certificate, error) {
			return writeCertFiles(ctx, dir, ic)
		},
		reload: func(_ context.Context, leaf *x509.Certificate) error {
			mu.Lock()
			defer mu.Unlock()
			reloads = append(reloads, serialHex(leaf))
			return nil
		},
		now:      clk.Now,
		after:    clk.AfterFunc,
		log:      slog.New(slog.NewTextHandler(logs, nil)),
		retryMin: time.Second,
		retryMax: 4 * time.Second,
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.run(ctx, false) }()

	clocktest.Eventually(t, "first certificate reloaded and the renewal timer set", func() bool {
		return len(reloaded()) == 1 && clk.Timers() == 1
	})
	first := readLeaf(t, dir)
	if got := reloaded()[0]; got != serialHex(first) {
		t.Fatalf("reloaded serial %s, but %s holds %s", got, certFile, serialHex(first))
	}
	due := renewAt(first)
	if want := first.NotBefore.Add(first.NotAfter.Sub(first.NotBefore) * 2 / 3); !due.Equal(want) {
		t.Fatalf("renewAt = %v, want %v", due, want)
	}

	// Just before two thirds of the lifetime: nothing happens.
	clk.Set(due.Add(-time.Second))
	if n := len(reloaded()); n != 1 || clk.Timers() != 1 {
		t.Fatalf("before the renewal time: %d reloads, %d timers; want 1 and 1", n, clk.Timers())
	}

	// Due, but the server is down: the agent retries after 1s, 2s, 4s, 4s
	// and never touches the files it wrote.
	server.Store(dead)
	clk.Set(due)
	for i, backoff := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		clocktest.Eventually(t, "a failed renewal and its retry timer", func() bool {
			return strings.Count(logs.String(), "will retry") == i+1 && clk.Timers() == 1
		})
		if !strings.Contains(logs.String(), "retry_in="+backoff.String()) {
			t.Fatalf("retry %d: log %q does not say retry_in=%v", i+1, logs.String(), backoff)
		}
		if got := readLeaf(t, dir); !got.Equal(first) {
			t.Fatal("a failed renewal replaced the certificate")
		}
		if _, err := os.Stat(filepath.Join(dir, keyFile)); err != nil {
			t.Fatalf("a failed renewal removed the key: %v", err)
		}
		if i < 3 {
			clk.Add(backoff)
		}
	}
	if n := len(reloaded()); n != 1 {
		t.Fatalf("%d reloads while the server was down, want 1", n)
	}

	// Back up: the next retry issues, writes and reloads a new certificate
	// and schedules its renewal.
	server.Store(live)
	clk.Add(4 * time.Second)
	clocktest.Eventually(t, "renewed certificate reloaded", func() bool {
		return len(reloaded()) == 2 && clk.Timers() == 1
	})
	second := readLeaf(t, dir)
	if second.Equal(first) || reloaded()[1] != serialHex(second) {
		t.Fatalf("after renewal: reloads %v, %s holds %s (first was %s)", reloaded(), certFile, serialHex(second), serialHex(first))
	}
	if strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Fatal("the agent logged a private key")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
	if clk.Timers() != 0 {
		t.Fatalf("%d timers left after cancel", clk.Timers())
	}
}

// TestCertAgentOnceAndRefused: with once the agent writes, reloads and
// returns; a first issue the server refuses (unknown role) ends the agent
// with that error at once, without writing anything.
func TestCertAgentOnceAndRefused(t *testing.T) {
	t.Parallel()
	_, c := pkiNode(t, "1h")
	for _, tt := range []struct {
		name    string
		role    string
		wantErr string
	}{
		{"once", "web", ""},
		{"refused", "nope", "unknown role"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			clk := clocktest.New(time.Now())
			var reloads atomic.Int32
			a := &certAgent{
				issue: func(ctx context.Context) (*api.IssuedCertificate, error) {
					return c.IssueCertificate(ctx, "pki", tt.role, api.IssueRequest{CommonName: "www.example.com"})
				},
				write: func(ctx context.Context, ic *api.IssuedCertificate) (*x509.Certificate, error) {
					return writeCertFiles(ctx, dir, ic)
				},
				reload:   func(context.Context, *x509.Certificate) error { reloads.Add(1); return nil },
				now:      clk.Now,
				after:    clk.AfterFunc,
				log:      slog.New(slog.DiscardHandler),
				retryMin: time.Second,
				retryMax: time.Minute,
			}
			err := a.run(t.Context(), tt.role == "web")
			if tt.wantErr == "" {
				if err != nil || reloads.Load() != 1 {
					t.Fatalf("run(once) = %v after %d reloads, want nil after 1", err, reloads.Load())
				}
				readLeaf(t, dir)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run = %v, want an error with %q", err, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(dir, keyFile)); !os.IsNotExist(err) {
				t.Fatalf("a refused issue left %s (stat: %v)", keyFile, err)
			}
		})
	}
}

// TestSignalReload: the signal reload reads the pid file and signals that
// process, which sees the signal; a pid file without a pid is an error.
func TestSignalReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sh := exec.Command("sh", "-c", `trap 'echo hup > got' HUP; echo $$ > pid; while :; do sleep 0.05; done`)
	sh.Dir = dir
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Process.Kill(); sh.Wait() })
	pidFile := filepath.Join(dir, "pid")
	clocktest.Eventually(t, "the shell to write its pid", func() bool {
		b, _ := os.ReadFile(pidFile)
		return strings.HasSuffix(string(b), "\n")
	})
	sig, err := parseSignal("sighup")
	if err != nil || sig != syscall.SIGHUP {
		t.Fatalf("parseSignal(sighup) = %v, %v", sig, err)
	}
	if err := signalReload(pidFile, sig)(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	clocktest.Eventually(t, "the shell to see SIGHUP", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "got"))
		return string(b) == "hup\n"
	})
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("1\n"), 0o600)
	if err := signalReload(bad, sig)(t.Context(), nil); err == nil {
		t.Fatal("signalReload with pid 1 = nil, want an error")
	}
}
