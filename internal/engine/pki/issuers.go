package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha1" //nolint:gosec // RFC 5280 key identifiers, not a security use
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/uuid"
)

// issuerEntry is one CA certificate of the mount, stored under issuer/ID.
// KeyID is empty for an issuer imported without its key (a parent CA in a
// bundle): it can be read and chained to, never sign.
type issuerEntry struct {
	ID                   string   `json:"id"`
	Name                 string   `json:"name"`
	KeyID                string   `json:"key_id"`
	CertPEM              string   `json:"certificate"`
	LeafNotAfterBehavior string   `json:"leaf_not_after_behavior"`
	Usage                string   `json:"usage"`
	ManualChain          []string `json:"manual_chain,omitempty"`
	Revoked              bool     `json:"revoked,omitempty"`

	cert *x509.Certificate
}

const defaultUsage = "read-only,issuing-certificates,crl-signing,ocsp-signing"

func (e *issuerEntry) parse() error {
	c, err := parseCertPEM(e.CertPEM)
	if err != nil {
		return fmt.Errorf("issuer %s: %w", e.ID, err)
	}
	e.cert = c
	return nil
}

func (e *issuerEntry) can(usage string) bool {
	return slices.Contains(strings.Split(e.Usage, ","), usage)
}

// issuersConfig is config/issuers: which issuer "default" means.
type issuersConfig struct {
	Default                    string `json:"default"`
	DefaultFollowsLatestIssuer bool   `json:"default_follows_latest_issuer"`
}

func parseCertPEM(s string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

func certPEM(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func loadIssuer(ctx context.Context, s logical.Storage, id string) (*issuerEntry, error) {
	var e issuerEntry
	found, err := logical.GetJSON(ctx, s, "issuer/"+id, &e)
	if err != nil || !found {
		return nil, err
	}
	if err := e.parse(); err != nil {
		return nil, err
	}
	return &e, nil
}

func putIssuer(ctx context.Context, s logical.Storage, e *issuerEntry) error {
	return logical.PutJSON(ctx, s, "issuer/"+e.ID, e)
}

func listIssuers(ctx context.Context, s logical.Storage) ([]*issuerEntry, error) {
	ids, err := s.List(ctx, "issuer/")
	if err != nil {
		return nil, err
	}
	out := make([]*issuerEntry, 0, len(ids))
	for _, id := range ids {
		e, err := loadIssuer(ctx, s, id)
		if err != nil {
			return nil, err
		}
		if e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

func loadIssuersConfig(ctx context.Context, s logical.Storage) (*issuersConfig, error) {
	var c issuersConfig
	if _, err := logical.GetJSON(ctx, s, "config/issuers", &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// resolveIssuer finds an issuer by "default", ID or name; nil if none.
func resolveIssuer(ctx context.Context, s logical.Storage, ref string) (*issuerEntry, error) {
	if ref == "" || ref == "default" {
		c, err := loadIssuersConfig(ctx, s)
		if err != nil || c.Default == "" {
			return nil, err
		}
		return loadIssuer(ctx, s, c.Default)
	}
	if e, err := loadIssuer(ctx, s, ref); err != nil || e != nil {
		return e, err
	}
	all, err := listIssuers(ctx, s)
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if e.Name == ref {
			return e, nil
		}
	}
	return nil, nil
}

func mustIssuer(ctx context.Context, s logical.Storage, ref string) (*issuerEntry, error) {
	e, err := resolveIssuer(ctx, s, ref)
	if err != nil {
		return nil, err
	}
	if e == nil {
		if ref == "" || ref == "default" {
			return nil, logical.BadRequest("no default issuer: generate or import a CA first")
		}
		return nil, logical.BadRequest("issuer %q does not exist", ref)
	}
	return e, nil
}

// chain returns e's certificate followed by its parents found among all,
// ending at a self-signed certificate or where no parent is known.
// ManualChain, when set, replaces the search.
func chain(e *issuerEntry, all []*issuerEntry) []string {
	if len(e.ManualChain) > 0 {
		out := []string{}
		for _, id := range e.ManualChain {
			for _, o := range all {
				if o.ID == id {
					out = append(out, o.CertPEM)
				}
			}
		}
		return out
	}
	out := []string{e.CertPEM}
	cur := e
	seen := map[string]bool{e.ID: true}
	for len(out) < 10 {
		if isSelfSigned(cur.cert) {
			break
		}
		var parent *issuerEntry
		for _, o := range all {
			if !seen[o.ID] && bytes.Equal(cur.cert.RawIssuer, o.cert.RawSubject) && cur.cert.CheckSignatureFrom(o.cert) == nil {
				parent = o
				break
			}
		}
		if parent == nil {
			break
		}
		seen[parent.ID] = true
		out = append(out, parent.CertPEM)
		cur = parent
	}
	return out
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// issuerSigner returns the issuer's key, refusing an issuer without one
// or without the usage.
func issuerSigner(ctx context.Context, s logical.Storage, e *issuerEntry, usage string) (crypto.Signer, error) {
	if !e.can(usage) {
		return nil, logical.BadRequest("issuer %s may not be used for %s", e.ID, usage)
	}
	if e.KeyID == "" {
		return nil, logical.BadRequest("issuer %s has no private key in this mount", e.ID)
	}
	k, err := loadKey(ctx, s, e.KeyID)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.BadRequest("issuer %s: its key is gone", e.ID)
	}
	return k.signer()
}

// subjectKeyID is the RFC 5280 method 1 key identifier.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	// SubjectPublicKeyInfo's BIT STRING is what method 1 hashes; the
	// whole SPKI hash is as unique and is what Go itself uses.
	sum := sha1.Sum(der) //nolint:gosec // key identifier
	return sum[:], nil
}

// importResult is what set-signed and config/ca answer.
type importResult struct {
	Issuers, Keys, Existing, ExistingKeys []string
	Mapping                               map[string]string
}

func (r importResult) data() map[string]any {
	return map[string]any{
		"imported_issuers": nilIfEmpty(r.Issuers),
		"imported_keys":    nilIfEmpty(r.Keys),
		"existing_issuers": nilIfEmpty(r.Existing),
		"existing_keys":    nilIfEmpty(r.ExistingKeys),
		"mapping":          r.Mapping,
	}
}

func nilIfEmpty(s []string) any {
	if len(s) == 0 {
		return nil
	}
	return s
}

// importBundle stores the keys and CA certificates in a PEM bundle. A
// certificate whose public key matches a stored key becomes an issuer
// that can sign. The first issuer with a key becomes the default when
// there is none. Callers hold b.mu.
func importBundle(ctx context.Context, s logical.Storage, bundle string) (importResult, error) {
	res := importResult{Mapping: map[string]string{}}
	data := []byte(bundle)
	var certs []*x509.Certificate
	var keys [][]byte
	for len(data) > 0 {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return res, logical.BadRequest("malformed certificate in bundle")
			}
			certs = append(certs, c)
		case "RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY":
			keys = append(keys, pem.EncodeToMemory(blk))
		}
	}
	if len(certs) == 0 && len(keys) == 0 {
		return res, logical.BadRequest("no certificates or keys in the PEM bundle")
	}
	storedKeys, err := listKeyEntries(ctx, s)
	if err != nil {
		return res, err
	}
	for _, kp := range keys {
		signer, _, err := parseKeyPEM(kp)
		if err != nil {
			return res, logical.BadRequest("%v", err)
		}
		var found *keyEntry
		for _, k := range storedKeys {
			ks, err := k.signer()
			if err == nil && publicKeysEqual(ks.Public(), signer.Public()) {
				found = k
			}
		}
		if found != nil {
			res.ExistingKeys = append(res.ExistingKeys, found.ID)
			continue
		}
		k, err := newKeyEntry(signer, "")
		if err != nil {
			return res, err
		}
		if err := putKey(ctx, s, k); err != nil {
			return res, err
		}
		storedKeys = append(storedKeys, k)
		res.Keys = append(res.Keys, k.ID)
	}
	existing, err := listIssuers(ctx, s)
	if err != nil {
		return res, err
	}
	cfg, err := loadIssuersConfig(ctx, s)
	if err != nil {
		return res, err
	}
	for _, c := range certs {
		if !c.IsCA {
			return res, logical.BadRequest("bundle holds a certificate that is not a CA")
		}
		var dup *issuerEntry
		for _, e := range existing {
			if bytes.Equal(e.cert.Raw, c.Raw) {
				dup = e
			}
		}
		if dup != nil {
			res.Existing = append(res.Existing, dup.ID)
			res.Mapping[dup.ID] = dup.KeyID
			continue
		}
		e := &issuerEntry{ID: uuid.New(), CertPEM: certPEM(c.Raw), LeafNotAfterBehavior: "err", Usage: defaultUsage, cert: c}
		for _, k := range storedKeys {
			ks, err := k.signer()
			if err == nil && publicKeysEqual(ks.Public(), c.PublicKey) {
				e.KeyID = k.ID
			}
		}
		if err := putIssuer(ctx, s, e); err != nil {
			return res, err
		}
		existing = append(existing, e)
		res.Issuers = append(res.Issuers, e.ID)
		res.Mapping[e.ID] = e.KeyID
		if e.KeyID != "" && (cfg.Default == "" || cfg.DefaultFollowsLatestIssuer) {
			cfg.Default = e.ID
			if err := logical.PutJSON(ctx, s, "config/issuers", cfg); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

func listKeyEntries(ctx context.Context, s logical.Storage) ([]*keyEntry, error) {
	ids, err := s.List(ctx, "key/")
	if err != nil {
		return nil, err
	}
	var out []*keyEntry
	for _, id := range ids {
		k, err := loadKey(ctx, s, id)
		if err != nil {
			return nil, err
		}
		if k != nil {
			out = append(out, k)
		}
	}
	return out, nil
}

// issuerData is the read shape of issuer/REF.
func issuerData(e *issuerEntry, all []*issuerEntry) map[string]any {
	return map[string]any{
		"issuer_id":               e.ID,
		"issuer_name":             e.Name,
		"key_id":                  e.KeyID,
		"certificate":             e.CertPEM,
		"ca_chain":                chain(e, all),
		"manual_chain":            e.ManualChain,
		"leaf_not_after_behavior": e.LeafNotAfterBehavior,
		"usage":                   e.Usage,
		"revoked":                 e.Revoked,
		"serial_number":           formatSerial(e.cert.SerialNumber),
		"not_after":               e.cert.NotAfter.UTC().Format(time.RFC3339),
	}
}
