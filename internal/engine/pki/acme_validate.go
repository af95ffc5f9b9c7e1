package pki

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

const (
	validationTimeout = 10 * time.Second
	maxChallengeBody  = 8 << 10
	maxRedirects      = 5
)

// idPeACMEIdentifier is the RFC 8737 certificate extension.
var idPeACMEIdentifier = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}

// validate checks one challenge for name. It returns the problem to put
// on the challenge when validation fails. Connections go only to
// addresses cfg allows: public ones, or those in allowed networks.
func (b *backend) validate(ctx context.Context, cfg acmeConfig, typ, name, token, keyAuth string) *acmeProblem {
	// A client that hangs up does not fail its own challenge half-way.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), validationTimeout)
	defer cancel()
	v := &validator{cfg: cfg, resolver: resolverFor(cfg)}
	var err error
	switch typ {
	case "http-01":
		err = v.http01(ctx, name, token, keyAuth)
	case "dns-01":
		err = v.dns01(ctx, name, keyAuth)
	case "tls-alpn-01":
		err = v.tlsALPN01(ctx, name, keyAuth)
	default:
		err = errors.New("unsupported challenge type")
	}
	if err == nil {
		return nil
	}
	var pe *acmeProblem
	if errors.As(err, &pe) {
		return pe
	}
	return problem(http.StatusForbidden, "incorrectResponse", err.Error())
}

func (p *acmeProblem) Error() string { return p.Detail }

type validator struct {
	cfg      acmeConfig
	resolver *net.Resolver
}

// resolverFor is the system resolver, or one that sends every query to
// cfg.DNSResolver.
func resolverFor(cfg acmeConfig) *net.Resolver {
	if cfg.DNSResolver == "" {
		return net.DefaultResolver
	}
	addr := cfg.DNSResolver
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// dial resolves host once, keeps the addresses validation may reach and
// connects to the first that answers, on port.
func (v *validator) dial(ctx context.Context, host string, port int) (net.Conn, error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ips, err := v.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(ips) == 0 {
			return nil, problem(http.StatusBadRequest, "dns", fmt.Sprintf("no address for %s", host))
		}
		addrs = ips
	}
	var refused bool
	var last error
	for _, a := range addrs {
		if !v.cfg.allowedNet(a) {
			refused = true
			continue
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
		if err == nil {
			return c, nil
		}
		last = err
	}
	if last == nil && refused {
		return nil, problem(http.StatusBadRequest, "rejectedIdentifier", fmt.Sprintf("%s resolves only to addresses validation may not reach", host))
	}
	return nil, problem(http.StatusBadRequest, "connection", fmt.Sprintf("cannot connect to %s", host))
}

// http01 fetches http://NAME/.well-known/acme-challenge/TOKEN. Redirects
// are followed (at most five, to http or https on the challenge ports),
// and every connection goes through dial's address checks.
func (v *validator) http01(ctx context.Context, name, token, keyAuth string) error {
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, portStr, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			port, _ := strconv.Atoi(portStr)
			return v.dial(ctx, host, port)
		},
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true}, // a redirect to https proves nothing by its certificate
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 16 << 10,
		ResponseHeaderTimeout:  validationTimeout,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return errors.New("too many redirects")
		}
		if r.URL.Scheme != "http" && r.URL.Scheme != "https" {
			return errors.New("redirect to a scheme other than http or https")
		}
		if p := r.URL.Port(); p != "" && p != "80" && p != "443" && p != strconv.Itoa(v.cfg.HTTPChallengePort) {
			return errors.New("redirect to a port other than 80 or 443")
		}
		return nil
	}}
	host := name
	if _, err := netip.ParseAddr(name); err == nil || v.cfg.HTTPChallengePort != 80 {
		host = net.JoinHostPort(name, strconv.Itoa(v.cfg.HTTPChallengePort)) // brackets an IPv6 address
	}
	u := "http://" + host + "/.well-known/acme-challenge/" + token
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "keyward-acme")
	resp, err := client.Do(req)
	if err != nil {
		var pe *acmeProblem
		if errors.As(err, &pe) {
			return pe
		}
		return problem(http.StatusBadRequest, "connection", "fetching the challenge failed")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return problem(http.StatusForbidden, "incorrectResponse", fmt.Sprintf("the challenge URL answered %d", resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxChallengeBody+1))
	if err != nil || len(body) > maxChallengeBody {
		return problem(http.StatusForbidden, "incorrectResponse", "the challenge response is unreadable or too large")
	}
	if subtle.ConstantTimeCompare(bytes.TrimRight(body, " \t\r\n"), []byte(keyAuth)) != 1 {
		return problem(http.StatusForbidden, "incorrectResponse", "the key authorization does not match")
	}
	return nil
}

// dns01 looks for the key authorization's digest in the TXT records of
// _acme-challenge.NAME.
func (v *validator) dns01(ctx context.Context, name, keyAuth string) error {
	sum := sha256.Sum256([]byte(keyAuth))
	want := b64(sum[:])
	txts, err := v.resolver.LookupTXT(ctx, "_acme-challenge."+name)
	if err != nil {
		return problem(http.StatusBadRequest, "dns", "no TXT record at _acme-challenge."+name)
	}
	for _, t := range txts {
		if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(t)), []byte(want)) == 1 {
			return nil
		}
	}
	return problem(http.StatusForbidden, "incorrectResponse", "no TXT record at _acme-challenge."+name+" matches the key authorization")
}

// tlsALPN01 is RFC 8737: a TLS handshake offering only acme-tls/1 must
// present a certificate for exactly NAME with a critical
// id-pe-acmeIdentifier holding the key authorization's digest.
func (v *validator) tlsALPN01(ctx context.Context, name, keyAuth string) error {
	raw, err := v.dial(ctx, name, v.cfg.TLSChallengePort)
	if err != nil {
		return err
	}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	conn := tls.Client(raw, &tls.Config{
		ServerName: name, NextProtos: []string{"acme-tls/1"}, MinVersion: tls.VersionTLS12,
		InsecureSkipVerify: true, // the certificate is self-signed by design; it is checked below
	})
	if err := conn.HandshakeContext(ctx); err != nil {
		return problem(http.StatusBadRequest, "tls", "TLS handshake failed")
	}
	st := conn.ConnectionState()
	if st.NegotiatedProtocol != "acme-tls/1" {
		return problem(http.StatusForbidden, "incorrectResponse", "the server did not negotiate acme-tls/1")
	}
	if len(st.PeerCertificates) == 0 {
		return problem(http.StatusForbidden, "incorrectResponse", "no certificate")
	}
	return checkALPNCert(st.PeerCertificates[0], name, keyAuth)
}

func checkALPNCert(c *x509.Certificate, name, keyAuth string) error {
	if len(c.DNSNames) != 1 || !strings.EqualFold(c.DNSNames[0], name) || len(c.IPAddresses)+len(c.EmailAddresses)+len(c.URIs) > 0 {
		return problem(http.StatusForbidden, "incorrectResponse", "the certificate must name exactly "+name)
	}
	sum := sha256.Sum256([]byte(keyAuth))
	for _, e := range c.Extensions {
		if !e.Id.Equal(idPeACMEIdentifier) {
			continue
		}
		var got []byte
		if rest, err := asn1.Unmarshal(e.Value, &got); err != nil || len(rest) > 0 || !e.Critical {
			return problem(http.StatusForbidden, "incorrectResponse", "malformed or non-critical acmeIdentifier extension")
		}
		if subtle.ConstantTimeCompare(got, sum[:]) != 1 {
			return problem(http.StatusForbidden, "incorrectResponse", "the acmeIdentifier does not match the key authorization")
		}
		return nil
	}
	return problem(http.StatusForbidden, "incorrectResponse", "the certificate has no acmeIdentifier extension")
}
