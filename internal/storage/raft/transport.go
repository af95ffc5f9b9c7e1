package raft

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	hraft "github.com/hashicorp/raft"
)

// tlsStream is a raft.StreamLayer over mutual TLS 1.3: it accepts only
// peers presenting a certificate from the cluster CA and dials only peers
// that do.
type tlsStream struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
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
	return server, client, nil
}

// listenTLS listens on bind and advertises advertise (bind's address when
// empty, which must then not be unspecified).
func listenTLS(bind, advertise string, cfg *tls.Config) (*tlsStream, error) {
	server, client, err := clusterTLS(cfg)
	if err != nil {
		return nil, err
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
	return &tlsStream{Listener: tls.NewListener(ln, server), advertise: adv, client: client}, nil
}

// Dial connects to a peer and completes the TLS handshake within timeout.
func (s *tlsStream) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: s.client}
	return d.Dial("tcp", string(addr))
}

// Addr is the advertised address, which peers dial.
func (s *tlsStream) Addr() net.Addr { return s.advertise }
