package pki

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// certRecord is a stored issued certificate, under certs/SERIAL (dashes).
type certRecord struct {
	DER []byte `json:"der"`
}

// revocation is revoked/SERIAL: when, and by whose CRL it is listed.
type revocation struct {
	Serial    string    `json:"serial_number"`
	RevokedAt time.Time `json:"revocation_time"`
	IssuerID  string    `json:"issuer_id"`
	NotAfter  time.Time `json:"not_after"`
}

func storeCert(ctx context.Context, s logical.Storage, c *x509.Certificate) error {
	return logical.PutJSON(ctx, s, "certs/"+storageSerial(formatSerial(c.SerialNumber)), certRecord{DER: c.Raw})
}

func loadCert(ctx context.Context, s logical.Storage, serial string) (*x509.Certificate, error) {
	var r certRecord
	found, err := logical.GetJSON(ctx, s, "certs/"+storageSerial(serial), &r)
	if err != nil || !found {
		return nil, err
	}
	return x509.ParseCertificate(r.DER)
}

func loadRevocation(ctx context.Context, s logical.Storage, serial string) (*revocation, error) {
	var r revocation
	found, err := logical.GetJSON(ctx, s, "revoked/"+storageSerial(serial), &r)
	if err != nil || !found {
		return nil, err
	}
	return &r, nil
}

// issuerOf finds the issuer that signed c.
func issuerOf(c *x509.Certificate, all []*issuerEntry) *issuerEntry {
	for _, e := range all {
		if bytes.Equal(c.RawIssuer, e.cert.RawSubject) && c.CheckSignatureFrom(e.cert) == nil {
			return e
		}
	}
	return nil
}

// revokeSerial revokes a stored certificate, or c when given (one not
// stored). It rebuilds the CRLs as config/crl says.
func (b *backend) revokeSerial(ctx context.Context, s logical.Storage, serial string, c *x509.Certificate) (*logical.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, canon, err := parseSerial(serial)
	if err != nil {
		return nil, err
	}
	if c == nil {
		if c, err = loadCert(ctx, s, canon); err != nil {
			return nil, err
		}
		if c == nil {
			return nil, logical.BadRequest("certificate with serial %s not found", canon)
		}
	}
	all, err := listIssuers(ctx, s)
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if bytes.Equal(e.cert.Raw, c.Raw) {
			return nil, logical.BadRequest("an issuer's own certificate cannot be revoked here")
		}
	}
	if prev, err := loadRevocation(ctx, s, canon); err != nil {
		return nil, err
	} else if prev != nil {
		return &logical.Response{Data: map[string]any{"revocation_time": prev.RevokedAt.Unix(),
			"revocation_time_rfc3339": prev.RevokedAt.UTC().Format(time.RFC3339Nano), "state": "revoked"}}, nil
	}
	iss := issuerOf(c, all)
	if iss == nil {
		return nil, logical.BadRequest("certificate %s was not issued by this mount", canon)
	}
	now := b.now().UTC()
	if !c.NotAfter.After(now) {
		return &logical.Response{Warnings: []string{"the certificate has expired; not revoked"}}, nil
	}
	rev := revocation{Serial: canon, RevokedAt: now, IssuerID: iss.ID, NotAfter: c.NotAfter}
	if err := logical.PutJSON(ctx, s, "revoked/"+storageSerial(canon), rev); err != nil {
		return nil, err
	}
	cfg, err := loadCRLConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	var warnings []string
	if !cfg.AutoRebuild || !cfg.EnableDelta {
		if err := b.buildCRL(ctx, s, iss, false); err != nil {
			warnings = append(warnings, "the CRL could not be rebuilt; rotate it with crl/rotate")
		}
	} else if err := b.buildCRL(ctx, s, iss, true); err != nil {
		warnings = append(warnings, "the delta CRL could not be rebuilt")
	}
	return &logical.Response{Warnings: warnings, Data: map[string]any{"revocation_time": now.Unix(),
		"revocation_time_rfc3339": now.Format(time.RFC3339Nano), "state": "revoked"}}, nil
}

func (b *backend) revoke(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "serial_number", "certificate"); err != nil {
		return nil, err
	}
	serial, err := str(req.Data, "serial_number")
	if err != nil {
		return nil, err
	}
	certPEMStr, err := str(req.Data, "certificate")
	if err != nil {
		return nil, err
	}
	switch {
	case serial != "" && certPEMStr != "":
		return nil, logical.BadRequest("give serial_number or certificate, not both")
	case certPEMStr != "":
		c, err := parseCertPEM(certPEMStr)
		if err != nil {
			return nil, logical.BadRequest("certificate: expected one PEM certificate")
		}
		return b.revokeSerial(ctx, req.Storage, formatSerial(c.SerialNumber), c)
	case serial != "":
		return b.revokeSerial(ctx, req.Storage, serial, nil)
	}
	return nil, logical.BadRequest("serial_number or certificate is required")
}

// revokeWithKey revokes only when private_key is the certificate's key.
// The key is compared and dropped; no error names it.
func (b *backend) revokeWithKey(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "serial_number", "certificate", "private_key"); err != nil {
		return nil, err
	}
	keyPEM, err := str(req.Data, "private_key")
	if err != nil {
		return nil, err
	}
	signer, _, err := parseKeyPEM([]byte(keyPEM))
	if err != nil || signer == nil {
		return nil, logical.BadRequest("private_key: expected a PEM private key")
	}
	serial, err := str(req.Data, "serial_number")
	if err != nil {
		return nil, err
	}
	certPEMStr, err := str(req.Data, "certificate")
	if err != nil {
		return nil, err
	}
	var c *x509.Certificate
	if certPEMStr != "" {
		if c, err = parseCertPEM(certPEMStr); err != nil {
			return nil, logical.BadRequest("certificate: expected one PEM certificate")
		}
		serial = formatSerial(c.SerialNumber)
	} else {
		_, canon, err := parseSerial(serial)
		if err != nil {
			return nil, err
		}
		if c, err = loadCert(ctx, req.Storage, canon); err != nil {
			return nil, err
		}
		if c == nil {
			return nil, logical.BadRequest("certificate with serial %s not found", canon)
		}
	}
	if !publicKeysEqual(c.PublicKey, signer.Public()) {
		return nil, logical.BadRequest("private_key does not match the certificate")
	}
	return b.revokeSerial(ctx, req.Storage, serial, c)
}

func (b *backend) listCerts(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	return listSerials(ctx, req.Storage, "certs/")
}

func (b *backend) listRevoked(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	return listSerials(ctx, req.Storage, "revoked/")
}

func listSerials(ctx context.Context, s logical.Storage, prefix string) (*logical.Response, error) {
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, strings.ReplaceAll(k, "-", ":"))
	}
	return &logical.Response{Data: map[string]any{"keys": out}}, nil
}

// readCert serves cert/SERIAL (JSON), cert/SERIAL/raw (DER) and
// cert/SERIAL/raw/pem, with Vault's special serials ca, ca_chain, crl
// and delta-crl.
func (b *backend) readCert(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	serial := p["serial"]
	raw := strings.HasSuffix(req.Path, "/raw")
	rawPEM := strings.HasSuffix(req.Path, "/raw/pem")
	var pemStr string
	var der []byte
	data := map[string]any{}
	switch serial {
	case "ca", "ca_chain":
		iss, err := resolveIssuer(ctx, req.Storage, "default")
		if err != nil || iss == nil {
			return nil, err
		}
		pemStr, der = iss.CertPEM, iss.cert.Raw
		if serial == "ca_chain" {
			all, err := listIssuers(ctx, req.Storage)
			if err != nil {
				return nil, err
			}
			pemStr = strings.Join(chain(iss, all), "")
			data["ca_chain"] = pemStr
		}
	case "crl", "delta-crl":
		iss, err := resolveIssuer(ctx, req.Storage, "default")
		if err != nil || iss == nil {
			return nil, err
		}
		if der, err = b.crlDER(ctx, req.Storage, iss, serial == "delta-crl"); err != nil {
			return nil, err
		}
		pemStr = string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
	default:
		_, canon, err := parseSerial(serial)
		if err != nil {
			return nil, err
		}
		c, err := loadCert(ctx, req.Storage, canon)
		if err != nil || c == nil {
			return nil, err
		}
		pemStr, der = certPEM(c.Raw), c.Raw
		rev, err := loadRevocation(ctx, req.Storage, canon)
		if err != nil {
			return nil, err
		}
		data["revocation_time"] = int64(0)
		if rev != nil {
			data["revocation_time"] = rev.RevokedAt.Unix()
			data["revocation_time_rfc3339"] = rev.RevokedAt.UTC().Format(time.RFC3339Nano)
			data["issuer_id"] = rev.IssuerID
		}
	}
	switch {
	case rawPEM:
		return &logical.Response{Raw: []byte(pemStr), ContentType: "application/pem-certificate-chain"}, nil
	case raw:
		return &logical.Response{Raw: der, ContentType: "application/pkix-cert"}, nil
	}
	data["certificate"] = strings.TrimSpace(pemStr)
	return &logical.Response{Data: data}, nil
}

// crlState is crl/ISSUER: the last full and delta CRLs and the counter
// both draw their numbers from.
type crlState struct {
	Full      []byte    `json:"full"`
	Delta     []byte    `json:"delta"`
	Number    int64     `json:"number"`
	FullBase  int64     `json:"full_base"`
	FullBuilt time.Time `json:"full_built"`
}

var oidDeltaCRLIndicator = asn1.ObjectIdentifier{2, 5, 29, 27}
var oidFreshestCRL = asn1.ObjectIdentifier{2, 5, 29, 46}

// buildCRL rebuilds iss's full CRL (delta=false) or its delta CRL, which
// lists what was revoked since the full one was built. Callers hold b.mu.
func (b *backend) buildCRL(ctx context.Context, s logical.Storage, iss *issuerEntry, delta bool) error {
	var st crlState
	if _, err := logical.GetJSON(ctx, s, "crl/"+iss.ID, &st); err != nil {
		return err
	}
	if delta && st.Full == nil {
		delta = false // a delta needs a base
	}
	cfg, err := loadCRLConfig(ctx, s)
	if err != nil {
		return err
	}
	signer, err := issuerSigner(ctx, s, iss, "crl-signing")
	if err != nil {
		return err
	}
	now := b.now().UTC()
	var entries []x509.RevocationListEntry
	if !cfg.Disable {
		entries, err = revokedEntries(ctx, s, iss.ID, func(r *revocation) bool { return !delta || r.RevokedAt.After(st.FullBuilt) })
		if err != nil {
			return err
		}
	}
	st.Number++
	tpl := &x509.RevocationList{
		Number: big.NewInt(st.Number), ThisUpdate: now, NextUpdate: now.Add(cfg.Expiry),
		RevokedCertificateEntries: entries,
		SignatureAlgorithm:        sigAlg(signer.Public(), 0, false),
	}
	urls, err := loadURLs(ctx, s)
	if err != nil {
		return err
	}
	if delta {
		tpl.NextUpdate = now.Add(cfg.DeltaRebuildInterval)
		base, _ := asn1.Marshal(big.NewInt(st.FullBase))
		tpl.ExtraExtensions = append(tpl.ExtraExtensions, pkix.Extension{Id: oidDeltaCRLIndicator, Critical: true, Value: base})
	} else if cfg.EnableDelta && len(urls.DeltaCRLDistributionPoints) > 0 {
		if ext, err := freshestCRL(urls.DeltaCRLDistributionPoints); err == nil {
			tpl.ExtraExtensions = append(tpl.ExtraExtensions, ext)
		}
	}
	der, err := x509.CreateRevocationList(rand.Reader, tpl, iss.cert, signer)
	if err != nil {
		return fmt.Errorf("build CRL for issuer %s: %w", iss.ID, err)
	}
	if delta {
		st.Delta = der
	} else {
		st.Full, st.FullBase, st.FullBuilt, st.Delta = der, st.Number, now, nil
	}
	return logical.PutJSON(ctx, s, "crl/"+iss.ID, st)
}

// freshestCRL encodes the Freshest CRL extension pointing at the delta.
func freshestCRL(urls []string) (pkix.Extension, error) {
	type distributionPointName struct {
		FullName []asn1.RawValue `asn1:"optional,tag:0"`
	}
	type distributionPoint struct {
		DistributionPoint distributionPointName `asn1:"optional,tag:0"`
	}
	var dps []distributionPoint
	for _, u := range urls {
		dps = append(dps, distributionPoint{DistributionPoint: distributionPointName{
			FullName: []asn1.RawValue{{Tag: 6, Class: asn1.ClassContextSpecific, Bytes: []byte(u)}}}})
	}
	v, err := asn1.Marshal(dps)
	return pkix.Extension{Id: oidFreshestCRL, Value: v}, err
}

// revokedEntries lists the unexpired revocations of an issuer.
func revokedEntries(ctx context.Context, s logical.Storage, issuerID string, keep func(*revocation) bool) ([]x509.RevocationListEntry, error) {
	keys, err := s.List(ctx, "revoked/")
	if err != nil {
		return nil, err
	}
	out := make([]x509.RevocationListEntry, 0, len(keys))
	for _, k := range keys {
		var r revocation
		found, err := logical.GetJSON(ctx, s, "revoked/"+k, &r)
		if err != nil {
			return nil, err
		}
		if !found || r.IssuerID != issuerID || !keep(&r) {
			continue
		}
		n, _, err := parseSerial(r.Serial)
		if err != nil {
			continue
		}
		out = append(out, x509.RevocationListEntry{SerialNumber: n, RevocationTime: r.RevokedAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SerialNumber.Cmp(out[j].SerialNumber) < 0 })
	return out, nil
}

// crlDER returns iss's current full or delta CRL, building it first when
// none exists or the stored one has passed its NextUpdate.
func (b *backend) crlDER(ctx context.Context, s logical.Storage, iss *issuerEntry, delta bool) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var st crlState
	if _, err := logical.GetJSON(ctx, s, "crl/"+iss.ID, &st); err != nil {
		return nil, err
	}
	der := st.Full
	if delta {
		der = st.Delta
	}
	stale := der == nil
	if !stale {
		if crl, err := x509.ParseRevocationList(der); err != nil || !crl.NextUpdate.After(b.now()) {
			stale = true
		}
	}
	if stale {
		if delta {
			cfg, err := loadCRLConfig(ctx, s)
			if err != nil {
				return nil, err
			}
			if !cfg.EnableDelta {
				return nil, logical.BadRequest("delta CRLs are not enabled (config/crl enable_delta)")
			}
			if st.Full == nil {
				if err := b.buildCRL(ctx, s, iss, false); err != nil {
					return nil, err
				}
			}
		}
		if err := b.buildCRL(ctx, s, iss, delta); err != nil {
			return nil, err
		}
		if _, err := logical.GetJSON(ctx, s, "crl/"+iss.ID, &st); err != nil {
			return nil, err
		}
		der = st.Full
		if delta {
			der = st.Delta
		}
	}
	return der, nil
}

func crlResponse(der []byte, asPEM bool) *logical.Response {
	if asPEM {
		return &logical.Response{Raw: pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), ContentType: "application/x-pem-file"}
	}
	return &logical.Response{Raw: der, ContentType: "application/pkix-crl"}
}

func (b *backend) readCRL(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	iss, err := resolveIssuer(ctx, req.Storage, "default")
	if err != nil {
		return nil, err
	}
	if iss == nil {
		return nil, logical.BadRequest("no default issuer")
	}
	der, err := b.crlDER(ctx, req.Storage, iss, strings.HasPrefix(req.Path, "crl/delta"))
	if err != nil {
		return nil, err
	}
	return crlResponse(der, strings.HasSuffix(req.Path, "/pem")), nil
}

func (b *backend) readIssuerCRL(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	iss, err := resolveIssuer(ctx, req.Storage, p["ref"])
	if err != nil || iss == nil {
		return nil, err
	}
	kind := strings.TrimSuffix(p["kind"], "/")
	delta := strings.HasPrefix(kind, "delta")
	switch kind {
	case "", "der", "pem", "delta", "delta/der", "delta/pem":
	default:
		return nil, logical.ErrUnsupportedPath
	}
	der, err := b.crlDER(ctx, req.Storage, iss, delta)
	if err != nil {
		return nil, err
	}
	if kind == "" {
		return &logical.Response{Data: map[string]any{"crl": strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})))}}, nil
	}
	return crlResponse(der, strings.HasSuffix(kind, "pem")), nil
}

func (b *backend) rotateCRL(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	return b.rotateAll(ctx, req.Storage, false)
}

func (b *backend) rotateDeltaCRL(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	cfg, err := loadCRLConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if !cfg.EnableDelta {
		return nil, logical.BadRequest("delta CRLs are not enabled (config/crl enable_delta)")
	}
	return b.rotateAll(ctx, req.Storage, true)
}

func (b *backend) rotateAll(ctx context.Context, s logical.Storage, delta bool) (*logical.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	all, err := listIssuers(ctx, s)
	if err != nil {
		return nil, err
	}
	for _, iss := range all {
		if iss.KeyID == "" || !iss.can("crl-signing") {
			continue
		}
		if err := b.buildCRL(ctx, s, iss, delta); err != nil {
			return nil, err
		}
	}
	return &logical.Response{Data: map[string]any{"success": true}}, nil
}

// readBody reads at most n bytes of an OCSP POST body.
func readBody(r io.Reader, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > n {
		return nil, logical.BadRequest("request body too large")
	}
	return b, nil
}
