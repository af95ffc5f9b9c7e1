package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/httpapi"
	"github.com/keyward/keyward/internal/logical"
)

// healthCore answers sys/health the way the core does: raw JSON.
func healthCore(req *logical.Request) (*logical.Response, error) {
	if req.Path == "sys/health" {
		return &logical.Response{Raw: []byte(`{"initialized":true,"sealed":false}`)}, nil
	}
	return &logical.Response{Data: map[string]any{"ok": true}}, nil
}

// testServer is an API served through a.Server on a loopback listener.
type testServer struct {
	Addr string // host:port
	URL  string // http://host:port
}

// startServer serves a fake core with cfg and listener settings l.
func startServer(t testing.TB, cfg httpapi.Config, l httpapi.Listener) (testServer, *fakeCore) {
	t.Helper()
	srv, f, _ := startServerLogs(t, cfg, l)
	return srv, f
}

// startServerLogs is startServer with the API's logs captured.
func startServerLogs(t testing.TB, cfg httpapi.Config, l httpapi.Listener) (testServer, *fakeCore, *clocktest.Buffer) {
	t.Helper()
	logs := &clocktest.Buffer{}
	f := &fakeCore{fn: healthCore}
	a := httpapi.New(f, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return serveOn(t, a.Server(l)), f, logs
}

// serveOn runs s on a new loopback listener until the test ends.
func serveOn(t testing.TB, s *httpapi.Server) testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln, nil) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	addr := ln.Addr().String()
	return testServer{Addr: addr, URL: "http://" + addr}
}

// rawRequest writes raw on a new connection and returns the status line.
func rawRequest(t testing.TB, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // a hang fails, not blocks
	go func() { _, _ = io.WriteString(c, raw) }()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read status line: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestServerConfig(t *testing.T) {
	a := httpapi.New(&fakeCore{}, httpapi.Config{}, nil)
	s := httpapi.HTTPServer(a.Server(httpapi.Listener{ReadTimeout: -1, IdleTimeout: time.Minute}))
	if s.MaxHeaderBytes != 64<<10 || s.ReadHeaderTimeout != 10*time.Second ||
		s.ReadTimeout != 0 || s.WriteTimeout != 2*time.Minute || s.IdleTimeout != time.Minute {
		t.Errorf("Server() = header bytes %d, timeouts %v %v %v %v",
			s.MaxHeaderBytes, s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
}

// TestHeaderLimits: oversized headers get 431 from the real server.
func TestHeaderLimits(t *testing.T) {
	srv, f := startServer(t, httpapi.Config{}, httpapi.Listener{})
	addr := srv.Addr

	var many strings.Builder
	many.WriteString("GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n")
	for i := range 10_000 {
		fmt.Fprintf(&many, "X-H-%d: v\r\n", i)
	}
	many.WriteString("\r\n")
	if got := rawRequest(t, addr, many.String()); !strings.HasPrefix(got, "HTTP/1.1 431") {
		t.Errorf("10k headers: %q, want 431", got)
	}

	token := strings.Repeat("t", 64<<10)
	got := rawRequest(t, addr, "GET /v1/secret/x HTTP/1.1\r\nHost: x\r\nX-Vault-Token: "+token+"\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 431") {
		t.Errorf("64 KiB token: %q, want 431", got)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("core called %d times", n)
	}
}

// TestMalformedHTTP: the server refuses broken framing before the API.
func TestMalformedHTTP(t *testing.T) {
	srv, f := startServer(t, httpapi.Config{}, httpapi.Listener{})
	addr := srv.Addr
	for _, raw := range []string{
		"POST /v1/secret/x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
		"POST /v1/secret/x HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
		"POST /v1/secret/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
		"GET /v1/secret/\x00x HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		if got := rawRequest(t, addr, raw); !strings.HasPrefix(got, "HTTP/1.1 400") {
			t.Errorf("%q: %q, want 400", raw, got)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("core called %d times", n)
	}
}

// TestSlowlorisDoesNotStarveOthers holds many connections that trickle headers and checks
// the server still answers sys/health. All come from 127.0.0.1, so the
// per-address cap (TestConnectionCaps) is lifted to test the server alone.
func TestSlowlorisDoesNotStarveOthers(t *testing.T) {
	srv, _ := startServer(t, httpapi.Config{}, httpapi.Listener{MaxConnectionsPerAddress: -1})
	addr := srv.Addr
	const slow = 300
	conns := make([]net.Conn, 0, slow)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range slow {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nX-Slow: a"); err != nil {
			t.Fatal(err)
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for range 5 {
		resp, err := client.Get(srv.URL + "/v1/sys/health")
		if err != nil {
			t.Fatalf("health with %d slow connections: %v", slow, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"sealed":false`) {
			t.Fatalf("health = %d %s", resp.StatusCode, body)
		}
	}
}

// TestReadHeaderTimeoutClosesSlowConn: a connection that never finishes
// its headers is closed by the server, not held forever.
func TestReadHeaderTimeoutClosesSlowConn(t *testing.T) {
	srv, _ := startServer(t, httpapi.Config{}, httpapi.Listener{ReadHeaderTimeout: 50 * time.Millisecond})
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second)) // safety net only
	_, err = io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("server kept a header-stalled connection open: %v", err)
	}
}

// TestClientBodyErrors: a body the client breaks (bad chunk framing, a
// body that stops arriving) is the client's error: 400 or 408 with
// Connection: close, never a 500, and nothing logged at ERROR. Raw TCP, so
// the bytes are exactly what a broken client sends.
func TestClientBodyErrors(t *testing.T) {
	const head = "POST /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nX-Vault-Token: kw.t\r\n"
	tests := []struct {
		name, raw string
		want      string
	}{
		{"bad chunk size", head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", "400"},
		{"chunk size overflow", head + "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n{}\r\n0\r\n\r\n", "400"},
		{"bad chunk trailer", head + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n", "400"},
		// The server's read deadline ends these, not the test's clock.
		{"slow body", head + "Content-Length: 100\r\n\r\n{\"a\":", "408"},
		{"slow chunked body", head + "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n", "408"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, f, logs := startServerLogs(t, httpapi.Config{}, httpapi.Listener{ReadTimeout: 200 * time.Millisecond})
			resp := rawResponse(t, srv.Addr, tt.raw)
			if !strings.HasPrefix(resp, "HTTP/1.1 "+tt.want) {
				t.Errorf("status line %q, want %s", firstLine(resp), tt.want)
			}
			if !strings.Contains(resp, "\r\nConnection: close\r\n") {
				t.Errorf("response does not close the connection:\n%s", resp)
			}
			if strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("client error logged at ERROR:\n%s", logs.String())
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("core called %d times", n)
			}
		})
	}
}

// rawResponse writes raw on a new connection and returns everything the
// server sends until it closes the connection (or 30 s pass, a failure).
func rawResponse(t testing.TB, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // a hang fails, not blocks
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read response (%q so far): %v", b, err)
	}
	return string(b)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// TestContentLengthAndTransferEncoding: a request framed by both headers
// (a smuggling attempt, RFC 9112 section 6.3) ends its connection: the
// request pipelined behind it is never read. net/http hides which headers
// came, so every chunked and every HTTP/1.0 request closes. Raw TCP, since
// Go's client never sends both.
func TestContentLengthAndTransferEncoding(t *testing.T) {
	const next = "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	tests := []struct {
		name, raw string
		want      string
	}{
		{"both", "POST /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nX-Vault-Token: kw.t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "200"},
		{"transfer-encoding first", "POST /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nX-Vault-Token: kw.t\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "200"},
		{"chunked alone", "POST /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nX-Vault-Token: kw.t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "200"},
		{"http/1.0 keep-alive", "GET /v1/sys/health HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", "200"},
		{"http/1.0 with transfer-encoding", "POST /v1/secret/data/x HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nX-Vault-Token: kw.t\r\nContent-Length: 11\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _, logs := startServerLogs(t, httpapi.Config{}, httpapi.Listener{})
			resp := rawResponse(t, srv.Addr, tt.raw+next)
			if got := firstLine(resp); !strings.HasPrefix(got, "HTTP/1.") || !strings.Contains(got, " "+tt.want+" ") {
				t.Errorf("status line %q, want %s", got, tt.want)
			}
			if n := strings.Count(resp, "HTTP/1.1 ") + strings.Count(resp, "HTTP/1.0 "); n != 1 {
				t.Errorf("%d responses on the connection, want 1 (it must close):\n%s", n, resp)
			}
			if !strings.Contains(resp, "\r\nConnection: close\r\n") {
				t.Errorf("no Connection: close:\n%s", resp)
			}
			if strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("logged at ERROR:\n%s", logs.String())
			}
		})
	}
}

// TestLongPathServer: a 60 KB path fits the 64 KiB header limit, so the
// real server hands it to the API, which answers 414 before the core.
func TestLongPathServer(t *testing.T) {
	srv, f := startServer(t, httpapi.Config{}, httpapi.Listener{})
	raw := "GET /v1/secret/data/" + strings.Repeat("p", 60_000) + " HTTP/1.1\r\nHost: x\r\n\r\n"
	if got := rawRequest(t, srv.Addr, raw); !strings.HasPrefix(got, "HTTP/1.1 414") {
		t.Errorf("60 KB path: %q, want 414", got)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("core called %d times", n)
	}
}

// waitCore blocks every request until the client goes away, then returns
// the context's error, as the core does when its caller is cancelled.
type waitCore struct{ entered chan struct{} }

func (c waitCore) HandleRequest(ctx context.Context, _ *logical.Request) (*logical.Response, error) {
	c.entered <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestClientGoneNotAnError: a client that disconnects while the core works
// cancels the request; that is the client's doing and is logged at debug,
// not as a failed request at ERROR (the same class as issue 10 item 15).
func TestClientGoneNotAnError(t *testing.T) {
	logs := &clocktest.Buffer{}
	core := waitCore{entered: make(chan struct{}, 1)}
	a := httpapi.New(core, httpapi.Config{}, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	srv := serveOn(t, a.Server(httpapi.Listener{}))
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /v1/secret/data/x HTTP/1.1\r\nHost: x\r\nX-Vault-Token: kw.t\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-core.entered
	c.Close()
	clocktest.Eventually(t, "a log line for the cancelled request", func() bool {
		return strings.Contains(logs.String(), "request failed") || strings.Contains(logs.String(), "client went away")
	})
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a client going away was logged at ERROR:\n%s", logs.String())
	}
}
