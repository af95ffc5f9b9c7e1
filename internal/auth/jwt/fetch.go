package jwt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Fetch limits for discovery documents and JWKS.
const (
	maxFetchBody    = 1 << 20
	maxRedirects    = 3
	fetchTimeout    = 10 * time.Second
	dialTimeout     = 5 * time.Second
	wellKnownSuffix = "/.well-known/openid-configuration"
)

// errBlockedAddr is returned when a URL or a resolved address is loopback,
// private, link-local, a cloud metadata address or otherwise internal.
var errBlockedAddr = errors.New("address is loopback, private, link-local or otherwise internal (set allow_private_network=true to permit)")

// nonPublic are ranges refused besides what netip's predicates cover.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64 can reach IPv4 internals
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2002::/16"),      // 6to4 embeds IPv4
}

// blockedAddr reports whether ip must not be fetched from by default.
func blockedAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// addrPolicy reports whether an address is refused; nil refuses nothing.
type addrPolicy func(netip.Addr) bool

// policyFor returns the default policy, or nil when private addresses are
// allowed.
func policyFor(allowPrivate bool) addrPolicy {
	if allowPrivate {
		return nil
	}
	return blockedAddr
}

// checkURL validates an identity-provider URL: https, a host, no user info,
// and, under a policy, no literal refused address or "localhost".
// Hostnames are checked again, after resolution, at dial time.
func checkURL(raw string, blocked addrPolicy) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a valid URL")
	}
	if u.Scheme != "https" {
		return nil, errors.New("must be an https URL")
	}
	if u.User != nil {
		return nil, errors.New("must not contain user info")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("has no host")
	}
	if blocked == nil {
		return u, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && blocked(ip) {
		return nil, errBlockedAddr
	}
	if h := strings.ToLower(trimDot(host)); h == "localhost" || hasSuffixFold(h, ".localhost") || hasSuffixFold(h, ".internal") {
		return nil, errBlockedAddr
	}
	return u, nil
}

func trimDot(h string) string {
	for len(h) > 0 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	return h
}

func hasSuffixFold(s, suffix string) bool {
	if len(s) < len(suffix) {
		return false
	}
	tail := s[len(s)-len(suffix):]
	for i := range len(tail) {
		a, b := tail[i], suffix[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// fetcher fetches JSON documents from an identity provider. It never uses
// a proxy from the environment, checks every redirect hop with checkURL and
// every dialled address with blockedAddr (so DNS rebinding lands on the
// dial-time check), and never includes a fetched body in an error.
type fetcher struct {
	client  *http.Client
	blocked addrPolicy
}

// newFetcher builds a fetcher trusting caPEM (the system roots when empty)
// and refusing addresses under blocked (nil: none).
func newFetcher(caPEM string, blocked addrPolicy) (*fetcher, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, errors.New("no certificate found in the CA PEM")
		}
		tlsConf.RootCAs = pool
	}
	dialer := &net.Dialer{Timeout: dialTimeout}
	if blocked != nil {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return errBlockedAddr
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || blocked(ip) {
				return errBlockedAddr
			}
			return nil
		}
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: dialTimeout,
		MaxIdleConns:        4,
		IdleConnTimeout:     30 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	f := &fetcher{blocked: blocked}
	f.client = &http.Client{
		Transport: tr,
		Timeout:   fetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return errors.New("too many redirects")
			}
			if _, err := checkURL(req.URL.String(), blocked); err != nil {
				return fmt.Errorf("redirect refused: %w", err)
			}
			return nil
		},
	}
	return f, nil
}

// getJSON fetches rawURL into out. Errors name what was fetched and why,
// never the body.
func (f *fetcher) getJSON(ctx context.Context, rawURL string, out any) error {
	u, err := checkURL(rawURL, f.blocked)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return errors.New("cannot build request")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return fetchErr(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unexpected HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchBody+1))
	if err != nil {
		return errors.New("reading the response failed")
	}
	if len(body) > maxFetchBody {
		return errors.New("response is larger than 1 MiB")
	}
	if err := json.Unmarshal(body, out); err != nil {
		return errors.New("response is not the expected JSON document")
	}
	return nil
}

// fetchErr reduces a client error to its cause without repeating the URL
// (the caller names the config field).
func fetchErr(err error) error {
	if errors.Is(err, errBlockedAddr) {
		return errBlockedAddr
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("request timed out")
		}
		return fmt.Errorf("request failed: %v", ue.Err)
	}
	return errors.New("request failed")
}
