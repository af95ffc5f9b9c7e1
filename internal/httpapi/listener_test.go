package httpapi_test

// Issue 10 items 10 and 11 on real TCP connections: each listener's own
// settings, connection caps and the short keep-alive of connections that
// have not authenticated.

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/httpapi"
	"github.com/keyward/keyward/internal/logical"
)

// tokenCore accepts the token "kw.good" as the core does (it fills
// req.Token) and answers every request.
func tokenCore(req *logical.Request) (*logical.Response, error) {
	if req.ClientToken.Reveal() == "kw.good" {
		req.Token = &logical.TokenInfo{Accessor: "acc"}
	}
	return healthCore(req)
}

// conn is a client connection that sends requests one at a time.
type conn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

// dialFrom connects to addr from the loopback address from (127.0.0.x on
// Linux needs no setup), so one test can be several clients.
func dialFrom(t testing.TB, from, addr string) *conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // a hang fails, not blocks
	return &conn{t: t, c: c, br: bufio.NewReader(c)}
}

// get sends GET path with token (if any) and returns the status, or an
// error when the server closed the connection instead of answering.
func (c *conn) get(path, token string) (int, error) {
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\n"
	if token != "" {
		req += "X-Vault-Token: " + token + "\r\n"
	}
	if _, err := io.WriteString(c.c, req+"\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// mustGet is get that fails the test unless the answer is 200.
func (c *conn) mustGet(path, token string) {
	c.t.Helper()
	if code, err := c.get(path, token); err != nil || code != 200 {
		c.t.Fatalf("GET %s = %d, %v; want 200", path, code, err)
	}
}

// closedByServer waits until the server closes c (read gives EOF or a
// reset), failing on data or the 30 s safety deadline.
func (c *conn) closedByServer() {
	c.t.Helper()
	b, err := c.br.ReadByte()
	if err == nil {
		c.t.Fatalf("server sent %q, want the connection closed", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("server kept the connection open")
	}
}

// refused reports whether the server closed a new connection instead of
// serving it.
func (c *conn) refused() bool {
	_, err := c.get("/v1/sys/health", "")
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("server neither answered nor closed the connection")
	}
	return err != nil
}

func newTestAPI(t testing.TB) (*httpapi.API, *fakeCore) {
	t.Helper()
	f := &fakeCore{fn: tokenCore}
	return httpapi.New(f, httpapi.Config{}, nil), f
}

// TestProxiesPerListener: two listeners of one API; the proxy trusted on
// the first counts for nothing on the second, where X-Forwarded-For is
// ignored.
func TestProxiesPerListener(t *testing.T) {
	a, f := newTestAPI(t)
	proxied := serveOn(t, a.Server(httpapi.Listener{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}))
	direct := serveOn(t, a.Server(httpapi.Listener{}))
	for _, tt := range []struct {
		name string
		srv  testServer
		want string
	}{
		{"trusted proxy", proxied, "198.51.100.7"},
		{"other listener", direct, "127.0.0.1"},
	} {
		req, _ := http.NewRequest("GET", tt.srv.URL+"/v1/secret/a", nil)
		req.Header.Set("X-Forwarded-For", "198.51.100.7")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		reqs := f.requests()
		if got := reqs[len(reqs)-1].Connection.RemoteAddr; got != tt.want {
			t.Errorf("%s: core saw client %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestConnectionCaps: connections are capped per peer address and in
// total; one over a cap is closed at once and the others keep working. A
// freed place can be taken again, and a trusted proxy has no per-address
// cap.
func TestConnectionCaps(t *testing.T) {
	a, _ := newTestAPI(t)
	srv := serveOn(t, a.Server(httpapi.Listener{MaxConnectionsPerAddress: 3, MaxConnections: 5}))
	var held []*conn
	for range 3 {
		c := dialFrom(t, "127.0.0.1", srv.Addr)
		c.mustGet("/v1/sys/health", "") // admitted and counted
		held = append(held, c)
	}
	if !dialFrom(t, "127.0.0.1", srv.Addr).refused() {
		t.Error("4th connection from 127.0.0.1 was served, want it closed (3 per address)")
	}
	for _, from := range []string{"127.0.0.2", "127.0.0.3"} {
		c := dialFrom(t, from, srv.Addr)
		c.mustGet("/v1/sys/health", "")
		held = append(held, c)
	}
	if !dialFrom(t, "127.0.0.4", srv.Addr).refused() {
		t.Error("6th connection was served, want it closed (5 in total)")
	}
	for _, c := range held {
		c.mustGet("/v1/sys/health", "") // the admitted ones are unaffected
	}

	// Closing one frees its place once the server has seen the close.
	held[0].c.Close()
	clocktest.Eventually(t, "a closed connection's place freed", func() bool { return tryConn(t, "127.0.0.1", srv.Addr) })

	t.Run("trusted proxy", func(t *testing.T) {
		a, _ := newTestAPI(t)
		srv := serveOn(t, a.Server(httpapi.Listener{MaxConnectionsPerAddress: 2,
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}))
		for range 4 {
			dialFrom(t, "127.0.0.1", srv.Addr).mustGet("/v1/sys/health", "")
		}
	})
}

// tryConn reports whether a new connection from from is served; the
// connection is closed either way. It fails the test only on a hang.
func tryConn(t testing.TB, from, addr string) bool {
	t.Helper()
	c := dialFrom(t, from, addr)
	defer c.c.Close()
	return !c.refused()
}

// TestUnauthenticatedIdle: a keep-alive connection that has not carried a
// request whose token the core accepted is closed after the short idle
// timeout, while an authenticated one idle for longer stays open. No test
// clock: the server's own timer ends the first, and the second is checked
// after that.
func TestUnauthenticatedIdle(t *testing.T) {
	a, _ := newTestAPI(t)
	srv := serveOn(t, a.Server(httpapi.Listener{UnauthenticatedIdleTimeout: 100 * time.Millisecond}))

	authed := dialFrom(t, "127.0.0.1", srv.Addr)
	authed.mustGet("/v1/sys/health", "")        // not authenticated yet
	authed.mustGet("/v1/secret/a", "kw.good")   // now it is; idle from here
	anon := dialFrom(t, "127.0.0.1", srv.Addr)  // no token at all
	bogus := dialFrom(t, "127.0.0.1", srv.Addr) // a token the core did not accept
	anon.mustGet("/v1/sys/health", "")
	bogus.mustGet("/v1/secret/a", "kw.made-up")

	anon.closedByServer()
	bogus.closedByServer()
	// authed has been idle longer than both: it is still open.
	authed.mustGet("/v1/secret/a", "kw.good")
}
