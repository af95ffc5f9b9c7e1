// Package cert is the TLS certificate auth method (auth/cert): a client
// logs in with the certificate it presented on an mTLS connection, which
// must chain to a configured CA (with the client-auth usage) or be exactly
// a pinned certificate (compared by its full DER, never by subject or
// serial), pass the entry's name constraints and not be revoked by a
// loaded CRL. It holds only public certificates and CRLs and never logs a
// token.
package cert

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
)

const (
	certPrefix = "cert/"
	crlPrefix  = "crl/"
	configKey  = "config"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// entry is one trusted certificate (CA or pinned leaf) with constraints.
type entry struct {
	Certificate    string             `json:"certificate"`
	DisplayName    string             `json:"display_name,omitempty"`
	AllowedCNs     []string           `json:"allowed_common_names,omitempty"`
	AllowedDNSSANs []string           `json:"allowed_dns_sans,omitempty"`
	AllowedURISANs []string           `json:"allowed_uri_sans,omitempty"`
	AllowedOUs     []string           `json:"allowed_organizational_units,omitempty"`
	Token          tokenparams.Params `json:"token"`
	parsed         []*x509.Certificate
}

type crl struct {
	PEM string `json:"crl"`
}

type config struct {
	// DisableBinding lets a token be renewed without presenting the
	// certificate that logged in (Vault's disable_binding). Off by default.
	DisableBinding bool `json:"disable_binding"`
}

// Backend is one cert mount. It is safe for concurrent use. Its routes
// serve HandleRequest, UnauthenticatedPaths and path-help.
type Backend struct {
	*logical.Router
	view logical.Storage
	now  func() time.Time

	mu      sync.RWMutex
	revoked map[string]map[string]bool // CRL name -> issuer+serial key
}

// Factory builds a Backend for a new mount, loading its CRLs (so a revoked
// certificate is refused from the first request after a restart).
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	return New(ctx, conf.Storage, nil)
}

// New opens the mount's state and loads every stored CRL.
func New(ctx context.Context, view logical.Storage, now func() time.Time) (*Backend, error) {
	if now == nil {
		now = time.Now
	}
	b := &Backend{view: view, now: now, revoked: map[string]map[string]bool{}}
	b.Router = logical.NewRouter(backendHelp, b.routes()...)
	names, err := view.List(ctx, crlPrefix)
	if err != nil {
		return nil, fmt.Errorf("cert: list CRLs: %w", err)
	}
	for _, n := range names {
		var c crl
		if _, err := logical.GetJSON(ctx, view, crlPrefix+n, &c); err != nil {
			return nil, err
		}
		set, err := parseCRL(c.PEM)
		if err != nil {
			return nil, fmt.Errorf("cert: load CRL %q: %w", n, err)
		}
		b.revoked[n] = set
	}
	return b, nil
}

const backendHelp = `The cert auth method logs in a client with the certificate it presented
on an mTLS connection: it must chain to a configured CA (with the client-auth
usage) or be exactly a pinned certificate, pass the entry's name constraints
and not be revoked by a loaded CRL.`

// ops is shorthand for a route's operation table.
type ops = map[logical.Operation]logical.Handler

var certNameDoc = logical.Field{Name: "name", InPath: true, Description: "The name of the trusted certificate entry."}

var certDocs = logical.Fields{
	certNameDoc,
	{Name: "certificate", Description: "PEM: the CA certificates logins must chain to, or the exact client certificate to pin (required on create)."},
	{Name: "display_name", Description: "Display name of the tokens issued (default: the entry's name)."},
	{Name: "allowed_common_names", Type: logical.TypeSlice, Description: "Common names (globs) the client certificate may carry; empty allows any."},
	{Name: "allowed_names", Type: logical.TypeSlice, Description: "Deprecated name of allowed_common_names."},
	{Name: "allowed_dns_sans", Type: logical.TypeSlice, Description: "DNS SANs (globs), one of which the client certificate must carry."},
	{Name: "allowed_uri_sans", Type: logical.TypeSlice, Description: "URI SANs (globs), one of which the client certificate must carry."},
	{Name: "allowed_organizational_units", Type: logical.TypeSlice, Description: "Organizational units, one of which the client certificate must carry."},
}.With(tokenparams.FieldDocs...)

var crlDocs = logical.Fields{
	{Name: "name", InPath: true, Description: "The name of the CRL."},
	{Name: "crl", Description: "The CRL, PEM or DER."},
}

var configDocs = logical.Fields{
	{Name: "disable_binding", Type: logical.TypeBool, Description: "Let tokens renew without presenting the certificate that logged in.", Default: false},
}

var loginDocs = logical.Fields{
	{Name: "name", Description: "Log in against this certificate entry only (default: any that matches)."},
}

func (b *Backend) routes() []logical.Route {
	return []logical.Route{
		{Pattern: "login", Unauthenticated: true, Ops: ops{logical.UpdateOperation: b.login},
			Synopsis: "Log in with the TLS client certificate of the connection.", Fields: loginDocs},
		{Pattern: "certs", Ops: ops{logical.ListOperation: b.list(certPrefix)}, Synopsis: "List the trusted certificate entries."},
		{Pattern: "crls", Ops: ops{logical.ListOperation: b.list(crlPrefix)}, Synopsis: "List the loaded CRLs."},
		{Pattern: "config", Ops: ops{logical.ReadOperation: b.readConfig, logical.UpdateOperation: b.writeConfig},
			Synopsis: "Read or set the mount's settings.", Fields: configDocs},
		{Pattern: "certs/{name}",
			Ops: ops{
				logical.ReadOperation:   named(b.readCert),
				logical.UpdateOperation: named(b.writeCert),
				logical.DeleteOperation: named(b.deleteCert),
			},
			Synopsis: "Create, read, update or delete a trusted certificate entry.", Fields: certDocs},
		{Pattern: "crls/{name}",
			Ops: ops{
				logical.ReadOperation:   named(b.readCRL),
				logical.UpdateOperation: named(b.writeCRL),
				logical.DeleteOperation: named(b.deleteCRL),
			},
			Synopsis:    "Load, read or delete a CRL.",
			Description: "A certificate a loaded CRL revokes, or one whose issuer it revokes, cannot log in.",
			Fields:      crlDocs},
	}
}

// named wraps fn for a certs/{name} or crls/{name} route.
func named(fn func(ctx context.Context, req *logical.Request, name string) (*logical.Response, error)) logical.Handler {
	return func(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
		if !nameRE.MatchString(p["name"]) {
			return nil, logical.BadRequest("invalid name")
		}
		return fn(ctx, req, p["name"])
	}
}

func (b *Backend) list(prefix string) logical.Handler {
	return func(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
		keys, err := b.view.List(ctx, prefix)
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: map[string]any{"keys": keys}}, nil
	}
}

func (b *Backend) readConfig(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	var c config
	if _, err := logical.GetJSON(ctx, b.view, configKey, &c); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"disable_binding": c.DisableBinding}}, nil
}

func (b *Backend) writeConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	var c config
	if _, err := logical.GetJSON(ctx, b.view, configKey, &c); err != nil {
		return nil, err
	}
	if err := configDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	if v, ok, err := logical.Bool(req.Data, "disable_binding"); err != nil {
		return nil, err
	} else if ok {
		c.DisableBinding = v
	}
	return nil, logical.PutJSON(ctx, b.view, configKey, c)
}

func (b *Backend) readCert(ctx context.Context, _ *logical.Request, name string) (*logical.Response, error) {
	e, err := b.entry(ctx, name)
	if err != nil || e == nil {
		return nil, err
	}
	d := map[string]any{
		"certificate":                  e.Certificate,
		"display_name":                 e.DisplayName,
		"allowed_common_names":         nonNil(e.AllowedCNs),
		"allowed_dns_sans":             nonNil(e.AllowedDNSSANs),
		"allowed_uri_sans":             nonNil(e.AllowedURISANs),
		"allowed_organizational_units": nonNil(e.AllowedOUs),
	}
	e.Token.Map(d)
	return &logical.Response{Data: d}, nil
}

func (b *Backend) deleteCert(ctx context.Context, _ *logical.Request, name string) (*logical.Response, error) {
	return nil, b.view.Delete(ctx, certPrefix+name)
}

func (b *Backend) writeCert(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	if err := certDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	e, err := b.entry(ctx, name)
	if err != nil {
		return nil, err
	}
	if e == nil {
		e = &entry{}
	}
	if v, ok, err := logical.Str(req.Data, "certificate"); err != nil {
		return nil, err
	} else if ok {
		if _, err := parseCerts(v); err != nil {
			return nil, logical.BadRequest("field %q: %v", "certificate", err)
		}
		e.Certificate = v
	}
	if e.Certificate == "" {
		return nil, logical.BadRequest("field %q is required", "certificate")
	}
	if v, ok, err := logical.Str(req.Data, "display_name"); err != nil {
		return nil, err
	} else if ok {
		e.DisplayName = v
	}
	for _, f := range []struct {
		key string
		dst *[]string
	}{
		{"allowed_names", &e.AllowedCNs}, {"allowed_common_names", &e.AllowedCNs}, {"allowed_dns_sans", &e.AllowedDNSSANs},
		{"allowed_uri_sans", &e.AllowedURISANs}, {"allowed_organizational_units", &e.AllowedOUs},
	} {
		v, ok, err := logical.Strings(req.Data, f.key)
		if err != nil {
			return nil, err
		}
		if ok {
			*f.dst = v
		}
	}
	if err := e.Token.Parse(req.Data); err != nil {
		return nil, err
	}
	return nil, logical.PutJSON(ctx, b.view, certPrefix+name, e)
}

func (b *Backend) readCRL(ctx context.Context, _ *logical.Request, name string) (*logical.Response, error) {
	var c crl
	ok, err := logical.GetJSON(ctx, b.view, crlPrefix+name, &c)
	if err != nil || !ok {
		return nil, err
	}
	b.mu.RLock()
	n := len(b.revoked[name])
	b.mu.RUnlock()
	return &logical.Response{Data: map[string]any{"crl": c.PEM, "revoked_count": n}}, nil
}

func (b *Backend) deleteCRL(ctx context.Context, _ *logical.Request, name string) (*logical.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.view.Delete(ctx, crlPrefix+name); err != nil {
		return nil, err
	}
	delete(b.revoked, name)
	return nil, nil
}

func (b *Backend) writeCRL(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	if err := crlDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	v, _, err := logical.Str(req.Data, "crl")
	if err != nil {
		return nil, err
	}
	set, err := parseCRL(v)
	if err != nil {
		return nil, logical.BadRequest("field %q: %v", "crl", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := logical.PutJSON(ctx, b.view, crlPrefix+name, crl{PEM: v}); err != nil {
		return nil, err
	}
	b.revoked[name] = set
	return nil, nil
}

func (b *Backend) entry(ctx context.Context, name string) (*entry, error) {
	var e entry
	ok, err := logical.GetJSON(ctx, b.view, certPrefix+name, &e)
	if err != nil || !ok {
		return nil, err
	}
	e.parsed, err = parseCerts(e.Certificate)
	if err != nil {
		return nil, fmt.Errorf("cert %q: %w", name, err)
	}
	return &e, nil
}

// parseCerts reads one or more PEM CERTIFICATE blocks.
func parseCerts(s string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, errors.New("expected PEM CERTIFICATE blocks")
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, errors.New("malformed certificate")
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// parseCRL reads a PEM (or DER) CRL into a set of issuer+serial keys.
func parseCRL(s string) (map[string]bool, error) {
	der := []byte(s)
	if blk, _ := pem.Decode(der); blk != nil {
		if blk.Type != "X509 CRL" {
			return nil, errors.New("expected a PEM X509 CRL block")
		}
		der = blk.Bytes
	}
	l, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, errors.New("malformed CRL")
	}
	set := map[string]bool{}
	for _, r := range l.RevokedCertificateEntries {
		set[revKey(l.RawIssuer, r.SerialNumber)] = true
	}
	return set, nil
}

func revKey(rawIssuer []byte, serial *big.Int) string {
	sum := sha256.Sum256(rawIssuer)
	return hex.EncodeToString(sum[:]) + ":" + serial.Text(16)
}

func (b *Backend) isRevoked(chain []*x509.Certificate) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, c := range chain {
		k := revKey(c.RawIssuer, c.SerialNumber)
		for _, set := range b.revoked {
			if set[k] {
				return true
			}
		}
	}
	return false
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// pinnedMatch compares the presented leaf to a pinned certificate by full
// DER: another certificate with the same subject and serial but another
// key never matches.
func pinnedMatch(pinned []*x509.Certificate, leaf *x509.Certificate) bool {
	return slices.ContainsFunc(pinned, func(p *x509.Certificate) bool { return bytes.Equal(p.Raw, leaf.Raw) })
}

// FieldAliases names the legacy fields this method accepts, so the core
// checks parameter constraints on the current names (logical.FieldAliaser).
func (b *Backend) FieldAliases() map[string]string { return fieldAliases }

var fieldAliases = tokenparams.WithAliases(nil)
