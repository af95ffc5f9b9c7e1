package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/keyward/keyward/internal/logical"
)

// ocsp answers RFC 6960 requests: GET ocsp/BASE64 or POST ocsp with an
// application/ocsp-request body. The issuer named by the request's hashes
// signs the answer itself; a serial the mount never stored is "unknown".
func (b *backend) ocsp(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	var der []byte
	if req.Operation == logical.ReadOperation {
		enc := strings.TrimSuffix(p["req"], "/")
		if u, err := url.PathUnescape(enc); err == nil {
			enc = u
		}
		var err error
		if der, err = base64.StdEncoding.DecodeString(enc); err != nil {
			return ocspRaw(ocsp.MalformedRequestErrorResponse), nil
		}
	} else {
		if req.Body == nil {
			return ocspRaw(ocsp.MalformedRequestErrorResponse), nil
		}
		var err error
		if der, err = readBody(req.Body, 64<<10); err != nil {
			return ocspRaw(ocsp.MalformedRequestErrorResponse), nil
		}
	}
	oreq, err := ocsp.ParseRequest(der)
	if err != nil {
		return ocspRaw(ocsp.MalformedRequestErrorResponse), nil
	}
	cfg, err := loadCRLConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg.OCSPDisable {
		return ocspRaw(ocsp.UnauthorizedErrorResponse), nil
	}
	all, err := listIssuers(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	var iss *issuerEntry
	for _, e := range all {
		if e.KeyID != "" && e.can("ocsp-signing") && matchesIssuer(oreq, e) {
			iss = e
			break
		}
	}
	if iss == nil {
		return ocspRaw(ocsp.UnauthorizedErrorResponse), nil
	}
	signer, err := issuerSigner(ctx, req.Storage, iss, "ocsp-signing")
	if err != nil {
		return ocspRaw(ocsp.InternalErrorErrorResponse), nil
	}
	serial := formatSerial(oreq.SerialNumber)
	now := b.now().UTC().Truncate(time.Minute)
	tpl := ocsp.Response{Status: ocsp.Unknown, SerialNumber: oreq.SerialNumber, ThisUpdate: now, NextUpdate: now.Add(cfg.OCSPExpiry),
		IssuerHash: oreq.HashAlgorithm}
	c, err := loadCert(ctx, req.Storage, serial)
	if err != nil {
		return nil, err
	}
	if c != nil && issuerOf(c, []*issuerEntry{iss}) != nil {
		tpl.Status = ocsp.Good
		rev, err := loadRevocation(ctx, req.Storage, serial)
		if err != nil {
			return nil, err
		}
		if rev != nil {
			tpl.Status, tpl.RevokedAt, tpl.RevocationReason = ocsp.Revoked, rev.RevokedAt, ocsp.Unspecified
		}
	} else if rev, err := loadRevocation(ctx, req.Storage, serial); err != nil {
		return nil, err
	} else if rev != nil && rev.IssuerID == iss.ID {
		tpl.Status, tpl.RevokedAt, tpl.RevocationReason = ocsp.Revoked, rev.RevokedAt, ocsp.Unspecified
	}
	out, err := ocsp.CreateResponse(iss.cert, iss.cert, tpl, signer)
	if err != nil {
		return ocspRaw(ocsp.InternalErrorErrorResponse), nil
	}
	return ocspRaw(out), nil
}

func ocspRaw(b []byte) *logical.Response {
	return &logical.Response{Raw: b, ContentType: "application/ocsp-response"}
}

// matchesIssuer compares the request's name and key hashes with e's.
func matchesIssuer(r *ocsp.Request, e *issuerEntry) bool {
	h := r.HashAlgorithm
	if h != crypto.SHA1 && h != crypto.SHA256 && h != crypto.SHA384 && h != crypto.SHA512 || !h.Available() {
		return false
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(e.cert.RawSubjectPublicKeyInfo, &spki); err != nil {
		return false
	}
	nh := h.New()
	nh.Write(e.cert.RawSubject)
	kh := h.New()
	kh.Write(spki.PublicKey.RightAlign())
	return bytes.Equal(nh.Sum(nil), r.IssuerNameHash) && bytes.Equal(kh.Sum(nil), r.IssuerKeyHash)
}
