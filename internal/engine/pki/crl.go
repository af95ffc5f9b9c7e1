package pki

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

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
