package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
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
