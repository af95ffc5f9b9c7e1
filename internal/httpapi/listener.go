package httpapi

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Listener holds one listener's own settings. Nothing in it is shared with
// another listener: a proxy trusted here is trusted only for connections
// that arrive here, and these timeouts and caps apply only here. The zero
// value is usable: every zero field takes the default named in its comment,
// and a negative duration or connection cap means none.
type Listener struct {
	// ReadHeaderTimeout bounds reading request headers (10s), which defends
	// against slowloris. ReadTimeout bounds reading the whole request (30s),
	// WriteTimeout writing the response (2m), IdleTimeout keep-alive idling
	// (5m) once the connection has carried a request whose token the core
	// accepted. UnauthenticatedIdleTimeout is the keep-alive of every other
	// connection (10s), so idle anonymous connections cannot pile up.
	ReadHeaderTimeout          time.Duration
	ReadTimeout                time.Duration
	WriteTimeout               time.Duration
	IdleTimeout                time.Duration
	UnauthenticatedIdleTimeout time.Duration
	// MaxHeaderBytes caps the request line and headers (64 KiB); larger
	// requests get 431.
	MaxHeaderBytes int
	// TrustedProxies lists the peers whose X-Forwarded-For is believed on
	// this listener. From any other peer the header is ignored.
	TrustedProxies []netip.Prefix
	// MaxConnections caps the open connections (4096), and
	// MaxConnectionsPerAddress those from one peer address (256; trusted
	// proxies are exempt, they carry many clients). A connection beyond
	// either is closed as soon as it is accepted, before a TLS handshake.
	MaxConnections           int
	MaxConnectionsPerAddress int
}

// Defaults for zero Listener fields.
const (
	DefaultReadHeaderTimeout          = 10 * time.Second
	DefaultReadTimeout                = 30 * time.Second
	DefaultWriteTimeout               = 2 * time.Minute
	DefaultIdleTimeout                = 5 * time.Minute
	DefaultUnauthenticatedIdleTimeout = 10 * time.Second
	DefaultMaxHeaderBytes             = 64 << 10
	DefaultMaxConnections             = 4096
	DefaultMaxConnectionsPerAddress   = 256
)

func (l Listener) withDefaults() Listener {
	l.ReadHeaderTimeout = orDefault(l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	l.ReadTimeout = orDefault(l.ReadTimeout, DefaultReadTimeout)
	l.WriteTimeout = orDefault(l.WriteTimeout, DefaultWriteTimeout)
	l.IdleTimeout = orDefault(l.IdleTimeout, DefaultIdleTimeout)
	l.UnauthenticatedIdleTimeout = orDefault(l.UnauthenticatedIdleTimeout, DefaultUnauthenticatedIdleTimeout)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	l.MaxConnections = orDefault(l.MaxConnections, DefaultMaxConnections)
	l.MaxConnectionsPerAddress = orDefault(l.MaxConnectionsPerAddress, DefaultMaxConnectionsPerAddress)
	return l
}

// orDefault applies the default to zero and turns negative into zero,
// which net/http and connLimiter read as "none".
func orDefault[T int | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Server serves the API on one listener with that listener's settings.
type Server struct {
	api   *API
	l     Listener
	http  *http.Server
	conns *connLimiter
}

// Server returns a server for one listener with settings l. Call Serve
// with the listener once; the caller owns its lifecycle through Shutdown.
func (a *API) Server(l Listener) *Server {
	s := &Server{api: a, l: l.withDefaults()}
	s.conns = &connLimiter{
		max:     s.l.MaxConnections,
		perAddr: s.l.MaxConnectionsPerAddress,
		exempt:  s.l.trusted,
		byAddr:  map[netip.Addr]int{},
	}
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: s.l.ReadHeaderTimeout,
		ReadTimeout:       s.l.ReadTimeout,
		WriteTimeout:      s.l.WriteTimeout,
		IdleTimeout:       s.l.IdleTimeout,
		MaxHeaderBytes:    s.l.MaxHeaderBytes,
		ConnState:         s.connState,
		ConnContext:       connContext,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelDebug),
	}
	return s
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) { s.api.serve(w, r, &s.l) }

// Serve accepts connections on ln until Shutdown, with TLS when
// tlsConfig is not nil. Connections over the caps are closed before TLS
// begins, so refusing them costs no handshake.
func (s *Server) Serve(ln net.Listener, tlsConfig *tls.Config) error {
	ln = &limitListener{Listener: ln, limiter: s.conns}
	if tlsConfig != nil {
		s.http.TLSConfig = tlsConfig
		ln = tls.NewListener(ln, tlsConfig)
	}
	return s.http.Serve(ln)
}

// Shutdown stops accepting, closes idle connections and waits for active
// ones until ctx ends, as http.Server.Shutdown does.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// connState shortens keep-alive for connections that have not carried an
// authenticated request: net/http has one idle timeout per server, so
// such a connection is closed by its own timer when it has stayed idle for
// UnauthenticatedIdleTimeout.
func (s *Server) connState(c net.Conn, state http.ConnState) {
	tc := tracked(c)
	if tc == nil {
		return
	}
	switch state {
	case http.StateIdle:
		tc.idle(s.l.UnauthenticatedIdleTimeout)
	case http.StateActive:
		tc.active()
	}
}

// connKey is the context key of the request's *trackedConn.
type connKey struct{}

func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc := tracked(c); tc != nil {
		return context.WithValue(ctx, connKey{}, tc)
	}
	return ctx
}

// markAuthenticated records that the connection serving ctx's request
// carried a token the core accepted.
func markAuthenticated(ctx context.Context) {
	if tc, ok := ctx.Value(connKey{}).(*trackedConn); ok && !tc.authenticated.Load() {
		tc.authenticated.Store(true)
	}
}

// tracked returns the *trackedConn under c (which TLS may wrap), or nil.
func tracked(c net.Conn) *trackedConn {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	tc, _ := c.(*trackedConn)
	return tc
}

// connLimiter counts one listener's open connections, in total and per
// peer address. It is safe for concurrent use.
type connLimiter struct {
	max, perAddr int                   // 0: no cap
	exempt       func(netip.Addr) bool // addresses without a per-address cap

	mu     sync.Mutex
	total  int
	byAddr map[netip.Addr]int
}

// admit counts a new connection from addr, reporting false (and counting
// nothing) when it is over a cap.
func (l *connLimiter) admit(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return false
	}
	capped := l.perAddr > 0 && !l.exempt(addr)
	if capped && l.byAddr[addr] >= l.perAddr {
		return false
	}
	l.total++
	l.byAddr[addr]++
	return true
}

func (l *connLimiter) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.byAddr[addr] - 1; n > 0 {
		l.byAddr[addr] = n
	} else {
		delete(l.byAddr, addr)
	}
}

// limitListener admits connections through a connLimiter and closes the
// rest at once.
type limitListener struct {
	net.Listener
	limiter *connLimiter
}

func (ln *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := peerAddr(c)
		if ln.limiter.admit(addr) {
			return &trackedConn{Conn: c, limiter: ln.limiter, addr: addr}, nil
		}
		_ = c.Close()
	}
}

// peerAddr is c's remote IP, or the zero Addr when it has none (a unix
// socket), which then shares one count.
func peerAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// trackedConn is an admitted connection: it gives its place back on Close
// and knows whether it has carried an authenticated request.
type trackedConn struct {
	net.Conn
	limiter       *connLimiter
	addr          netip.Addr
	authenticated atomic.Bool
	closeOnce     sync.Once

	mu      sync.Mutex
	waiting bool        // idle, with timer running
	timer   *time.Timer // closes the connection when it fires while waiting
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.limiter.release(c.addr)
		c.mu.Lock()
		c.waiting = false
		if c.timer != nil {
			c.timer.Stop()
		}
		c.mu.Unlock()
	})
	return err
}

// idle starts the short keep-alive of a connection that has not
// authenticated; authenticated ones are left to the server's IdleTimeout.
func (c *trackedConn) idle(d time.Duration) {
	if d <= 0 || c.authenticated.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiting = true
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.expire)
	} else {
		c.timer.Reset(d)
	}
}

// active stops the idle timer: a request has begun. A connection only
// authenticates while active, so once authenticated its timer is stopped.
func (c *trackedConn) active() {
	if c.authenticated.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiting = false
	if c.timer != nil {
		c.timer.Stop()
	}
}

func (c *trackedConn) expire() {
	c.mu.Lock()
	waiting := c.waiting
	c.mu.Unlock()
	if waiting {
		_ = c.Close()
	}
}
