package raft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"
)

// ProtoRaft is the ALPN protocol raft's own connections negotiate on the
// cluster port; Config.Protocols names the others it serves.
const ProtoRaft = "keyward-raft/1"

// handshakeTimeout bounds a peer's TLS handshake on the cluster port, and
// maxHandshakes how many run at once: a flood of silent connections costs
// bounded memory, and connections over the bound are closed at once.
const (
	handshakeTimeout = 10 * time.Second
	maxHandshakes    = 256
)

// tlsStream is a raft.StreamLayer over mutual TLS 1.3: it accepts only
// peers presenting a certificate from the cluster CA and dials only peers
// that do. Connections negotiating another ALPN protocol are handed to that
// protocol's handler; one naming none is closed.
type tlsStream struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config
	protocols map[string]func(net.Conn)

	conns     chan net.Conn
	shaking   chan struct{} // one token per handshake in progress
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

var _ hraft.StreamLayer = (*tlsStream)(nil)

// clusterTLS checks cfg and returns the server and client configurations
// derived from it, with TLS 1.3 and verified client certificates enforced.
func clusterTLS(cfg *tls.Config) (server, client *tls.Config, err error) {
	if cfg == nil {
		return nil, nil, errors.New("tls: a configuration is required")
	}
	if len(cfg.Certificates) == 0 && (cfg.GetCertificate == nil || cfg.GetClientCertificate == nil) {
		return nil, nil, errors.New("tls: no node certificate (set Certificates, or GetCertificate and GetClientCertificate)")
	}
	if cfg.ClientCAs == nil || cfg.RootCAs == nil {
		return nil, nil, errors.New("tls: ClientCAs and RootCAs must hold the cluster ca")
	}
	if cfg.InsecureSkipVerify {
		return nil, nil, errors.New("tls: InsecureSkipVerify is not allowed on the cluster port")
	}
	server = cfg.Clone()
	server.MinVersion = tls.VersionTLS13
	server.ClientAuth = tls.RequireAndVerifyClientCert
	client = cfg.Clone()
	client.MinVersion = tls.VersionTLS13
	if client.ServerName == "" {
		client.ServerName = ServerName
	}
	client.NextProtos = []string{ProtoRaft}
	return server, client, nil
}

// listenTLS listens on bind and advertises advertise (bind's address when
// empty, which must then not be unspecified).
func listenTLS(bind, advertise string, cfg *tls.Config, protocols map[string]func(net.Conn)) (*tlsStream, error) {
	server, client, err := clusterTLS(cfg)
	if err != nil {
		return nil, err
	}
	server.NextProtos = []string{ProtoRaft}
	for p := range protocols {
		if p == ProtoRaft || p == "" {
			return nil, fmt.Errorf("cluster protocol %q is reserved", p)
		}
		server.NextProtos = append(server.NextProtos, p)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("listen on cluster address: %w", err)
	}
	var adv net.Addr = ln.Addr()
	if advertise != "" {
		if adv, err = net.ResolveTCPAddr("tcp", advertise); err != nil {
			ln.Close()
			return nil, fmt.Errorf("advertise address: %w", err)
		}
	}
	if a, ok := adv.(*net.TCPAddr); ok && a.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("advertise address %s is unspecified: set AdvertiseAddr", adv)
	}
	s := &tlsStream{ln: ln, advertise: adv, server: server, client: client, protocols: protocols,
		conns: make(chan net.Conn), shaking: make(chan struct{}, maxHandshakes), done: make(chan struct{})}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// acceptLoop accepts connections and completes each handshake in its own
// goroutine, so that a slow or silent peer never holds up the others.
func (s *tlsStream) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		select {
		case s.shaking <- struct{}{}:
		default:
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.dispatch(c)
		}()
	}
}

func (s *tlsStream) dispatch(c net.Conn) {
	tc := tls.Server(c, s.server)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := tc.HandshakeContext(ctx)
	<-s.shaking
	if err != nil {
		tc.Close()
		return
	}
	proto := tc.ConnectionState().NegotiatedProtocol
	if proto == ProtoRaft {
		select {
		case s.conns <- tc:
		case <-s.done:
			tc.Close()
		}
		return
	}
	if h := s.protocols[proto]; h != nil {
		h(tc)
		return
	}
	tc.Close()
}

// Accept returns the next raft connection.
func (s *tlsStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections already handed out stay open.
func (s *tlsStream) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		err = s.ln.Close()
	})
	return err
}

// Dial connects to a peer and completes the TLS handshake within timeout.
func (s *tlsStream) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: s.client}
	return d.Dial("tcp", string(addr))
}

// Addr is the advertised address, which peers dial.
func (s *tlsStream) Addr() net.Addr { return s.advertise }
