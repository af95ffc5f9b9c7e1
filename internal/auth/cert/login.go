package cert

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

var (
	errNoCert   = logical.BadRequest("a client certificate is required: log in over TLS presenting one")
	errNoMatch  = logical.Errorf(http.StatusForbidden, "no trusted certificate entry matches the client certificate")
	errBindings = logical.Errorf(http.StatusForbidden, "the token must be renewed with the certificate that logged in")
)

func peerChain(req *logical.Request) ([]*x509.Certificate, error) {
	if req.Connection == nil || req.Connection.TLS == nil || len(req.Connection.TLS.PeerCertificates) == 0 {
		return nil, errNoCert
	}
	return req.Connection.TLS.PeerCertificates, nil
}

func (b *Backend) login(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := loginDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	only, _, err := logical.Str(req.Data, "name")
	if err != nil {
		return nil, err
	}
	peers, err := peerChain(req)
	if err != nil {
		return nil, err
	}
	name, e, err := b.find(ctx, only, peers)
	if err != nil {
		return nil, err
	}
	leaf := peers[0]
	a := e.Token.Auth()
	// Renewal is bound to this certificate: the core asks RenewAuth before
	// renewing a token this mount issued.
	a.DisplayName = e.DisplayName
	if a.DisplayName == "" {
		a.DisplayName = name
	}
	// The alias is the common name, as in Vault, so a renewed certificate
	// keeps its entity; a certificate without one is known by its serial.
	a.Alias = leaf.Subject.CommonName
	if a.Alias == "" {
		a.Alias = leaf.SerialNumber.Text(16)
	}
	// Group aliases on this mount match the name of the certificate entry
	// that trusted the chain and the leaf's organizational units.
	a.GroupAliases = append([]string{name}, leaf.Subject.OrganizationalUnit...)
	a.Metadata = map[string]string{
		"cert_name":          name,
		"common_name":        leaf.Subject.CommonName,
		"serial_number":      leaf.SerialNumber.Text(16),
		"subject_key_id":     hex.EncodeToString(leaf.SubjectKeyId),
		"authority_key_id":   hex.EncodeToString(leaf.AuthorityKeyId),
		"certificate_sha256": fingerprint(leaf),
	}
	a.InternalData = map[string]any{"cert_name": name}
	return &logical.Response{Auth: a}, nil
}

// find returns the first entry (by name, or only the named one) that
// trusts the presented chain.
func (b *Backend) find(ctx context.Context, only string, peers []*x509.Certificate) (string, *entry, error) {
	names := []string{only}
	if only == "" {
		var err error
		if names, err = b.view.List(ctx, certPrefix); err != nil {
			return "", nil, err
		}
		sort.Strings(names)
	} else if !nameRE.MatchString(only) {
		return "", nil, logical.BadRequest("invalid name")
	}
	for _, n := range names {
		e, err := b.entry(ctx, n)
		if err != nil {
			return "", nil, err
		}
		if e != nil && b.trusts(e, peers) {
			return n, e, nil
		}
	}
	return "", nil, errNoMatch
}

// trusts reports whether e accepts the presented chain: leaf pinned by DER
// or verified to one of e's CAs for client auth, within the name
// constraints, and nothing in the chain revoked.
func (b *Backend) trusts(e *entry, peers []*x509.Certificate) bool {
	leaf := peers[0]
	now := b.now()
	var pins []*x509.Certificate
	roots := x509.NewCertPool()
	nCA := 0
	for _, c := range e.parsed {
		if c.IsCA {
			roots.AddCert(c)
			nCA++
		} else {
			pins = append(pins, c)
		}
	}
	var chain []*x509.Certificate
	switch {
	case pinnedMatch(pins, leaf):
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return false
		}
		chain = []*x509.Certificate{leaf}
	case nCA > 0:
		inter := x509.NewCertPool()
		for _, c := range peers[1:] {
			inter.AddCert(c)
		}
		chains, err := leaf.Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil || len(chains) == 0 {
			return false
		}
		chain = chains[0]
	default:
		return false
	}
	if !constraintsOK(e, leaf) {
		return false
	}
	return !b.isRevoked(chain)
}

func constraintsOK(e *entry, leaf *x509.Certificate) bool {
	if len(e.AllowedCNs) > 0 && !anyMatch(e.AllowedCNs, []string{leaf.Subject.CommonName}) {
		return false
	}
	if len(e.AllowedDNSSANs) > 0 && !anyMatch(e.AllowedDNSSANs, leaf.DNSNames) {
		return false
	}
	if len(e.AllowedURISANs) > 0 {
		uris := make([]string, len(leaf.URIs))
		for i, u := range leaf.URIs {
			uris[i] = u.String()
		}
		if !anyMatch(e.AllowedURISANs, uris) {
			return false
		}
	}
	if len(e.AllowedOUs) > 0 && !anyMatch(e.AllowedOUs, leaf.Subject.OrganizationalUnit) {
		return false
	}
	return true
}

func anyMatch(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if globMatch(p, v) {
				return true
			}
		}
	}
	return false
}

// globMatch matches s against pattern, where "*" matches any run of
// characters except "/" and "**" any run at all (so a SPIFFE pattern
// "spiffe://td/ns/prod/sa/*" never reaches into a deeper path). Everything
// else is literal and case-sensitive. It runs in O(len(pattern)*len(s)).
// It differs from jwt's glob on purpose: certificate names (URI SANs,
// SPIFFE ids) are paths, and a grant for one level must not cover deeper
// ones.
func globMatch(pattern, s string) bool {
	type tok struct {
		lit  byte
		star bool
		deep bool
	}
	var toks []tok
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '*' {
			deep := i+1 < len(pattern) && pattern[i+1] == '*'
			if deep {
				i++
			}
			toks = append(toks, tok{star: true, deep: deep})
			continue
		}
		toks = append(toks, tok{lit: pattern[i]})
	}
	// cur[j]: toks[:i] matches s[:j].
	cur := make([]bool, len(s)+1)
	next := make([]bool, len(s)+1)
	cur[0] = true
	for _, t := range toks {
		clear(next)
		if t.star {
			for j := 0; j <= len(s); j++ {
				if cur[j] || (j > 0 && next[j-1] && (t.deep || s[j-1] != '/')) {
					next[j] = true
				}
			}
		} else {
			for j := 1; j <= len(s); j++ {
				next[j] = cur[j-1] && s[j-1] == t.lit
			}
		}
		cur, next = next, cur
	}
	return cur[len(s)]
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// RenewAuth decides whether a token issued by this mount may be renewed
// by req: unless config disable_binding is set, the connection must present
// the very certificate that logged in (metadata certificate_sha256), and
// that certificate must still be trusted by its entry and not revoked. The
// core is expected to call it before renewing a cert token; it returns
// nil when the renewal may go ahead.
func (b *Backend) RenewAuth(ctx context.Context, req *logical.Request, meta map[string]string) error {
	var c config
	if _, err := logical.GetJSON(ctx, b.view, configKey, &c); err != nil {
		return err
	}
	peers, err := peerChain(req)
	if err != nil {
		if c.DisableBinding {
			return nil
		}
		return errBindings
	}
	if !c.DisableBinding && subtle.ConstantTimeCompare([]byte(fingerprint(peers[0])), []byte(strings.ToLower(meta["certificate_sha256"]))) != 1 {
		return errBindings
	}
	name := meta["cert_name"]
	if !nameRE.MatchString(name) {
		return errNoMatch
	}
	_, _, err = b.find(ctx, name, peers)
	return err
}
