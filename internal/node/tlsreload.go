package node

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// certReloader serves a listener's certificate from its files and swaps in
// a new one on reload. A reload that fails (a file missing, a key that does
// not match, a half-written file) keeps the certificate being served.
type certReloader struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) reload() error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("parse %s: %w", r.certFile, err)
	}
	cert.Leaf = leaf
	r.cur.Store(&cert)
	return nil
}

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// ReloadCertificates rereads every TLS listener's certificate and key
// files; new connections get the new certificate, open ones keep theirs.
// A listener whose files do not load keeps its old certificate, and the
// error names it. SIGHUP calls it (with the audit reopen).
func (n *Node) ReloadCertificates() error {
	var errs []error
	for i, r := range n.certs {
		if r == nil {
			continue
		}
		addr := n.cfg.Listeners[i].Address
		if err := r.reload(); err != nil {
			errs = append(errs, fmt.Errorf("listener %s: reload TLS certificate: %w", addr, err))
			n.logger.Error("TLS certificate not reloaded: still serving the previous one", "addr", addr, "err", err)
			continue
		}
		leaf := r.cur.Load().Leaf
		n.logger.Info("TLS certificate reloaded", "addr", addr, "serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter)
	}
	return errors.Join(errs...)
}

// reloadOnHangup reloads the certificates on SIGHUP until stop closes.
func (n *Node) reloadOnHangup(stop <-chan struct{}) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-stop:
			return
		case <-hup:
			n.ReloadCertificates() // logged per listener
		}
	}
}
