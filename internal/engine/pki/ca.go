package pki

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/uuid"
)

var caFields = subjectFields.With(orgFields...).With(
	logical.Field{Name: "exported", InPath: true, Description: "internal, exported (returns the key once) or existing (key_ref)."},
	logical.Field{Name: "key_type", Type: logical.TypeString, Default: "rsa", Description: "rsa, ec or ed25519."},
	logical.Field{Name: "key_bits", Type: logical.TypeInt, Description: "Key size."},
	logical.Field{Name: "key_name", Type: logical.TypeString, Description: "A name for the new key."},
	logical.Field{Name: "key_ref", Type: logical.TypeString, Description: "An existing key (existing, cross-sign)."},
	logical.Field{Name: "issuer_name", Type: logical.TypeString, Description: "A name for the new issuer."},
	logical.Field{Name: "max_path_length", Type: logical.TypeInt, Default: -1, Description: "Basic constraints path length; -1 for none."},
	logical.Field{Name: "permitted_dns_domains", Type: logical.TypeSlice, Description: "Name constraints."},
	logical.Field{Name: "not_before_duration", Type: logical.TypeDuration, Default: 30, Description: "Backdating of NotBefore."},
	logical.Field{Name: "signature_bits", Type: logical.TypeInt},
	logical.Field{Name: "use_pss", Type: logical.TypeBool},
	logical.Field{Name: "add_basic_constraints", Type: logical.TypeBool, Description: "Accepted for compatibility: CSRs carry no extensions here."},
)

var signIntFields = subjectFields.With(orgFields...).With(
	logical.Field{Name: "csr", Type: logical.TypeString, Description: "The intermediate's CSR in PEM."},
	logical.Field{Name: "max_path_length", Type: logical.TypeInt, Default: -1},
	logical.Field{Name: "permitted_dns_domains", Type: logical.TypeSlice},
	logical.Field{Name: "use_csr_values", Type: logical.TypeBool, Description: "Take the subject and SANs from the CSR."},
	logical.Field{Name: "not_before_duration", Type: logical.TypeDuration, Default: 30},
	logical.Field{Name: "signature_bits", Type: logical.TypeInt},
	logical.Field{Name: "use_pss", Type: logical.TypeBool},
	logical.Field{Name: "issuer_ref", Type: logical.TypeString, Description: "The signing issuer (root/sign-intermediate)."},
)

// caSpec reads the fields common to root and intermediate generation.
func (b *backend) caSpec(ctx context.Context, req *logical.Request, requireCN bool) (*certSpec, error) {
	d := req.Data
	spec := &certSpec{IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature}
	var err error
	if spec.Subject, err = subject(d, nil); err != nil {
		return nil, err
	}
	if err := names(anyName, spec, d, requireCN); err != nil {
		return nil, err
	}
	if spec.MaxPathLen, err = integer(d, "max_path_length", -1); err != nil {
		return nil, err
	}
	if spec.Permitted, err = strs(d, "permitted_dns_domains"); err != nil {
		return nil, err
	}
	if spec.SigBits, err = integer(d, "signature_bits", 0); err != nil {
		return nil, err
	}
	if spec.UsePSS, err = boolean(d, "use_pss", false); err != nil {
		return nil, err
	}
	if spec.URLs, err = loadURLs(ctx, req.Storage); err != nil {
		return nil, err
	}
	return spec, nil
}

// caKey returns the key for a new CA: generated, or an existing one for
// "existing" (and cross-sign), by key_ref.
func (b *backend) caKey(ctx context.Context, req *logical.Request, mode string) (crypto.Signer, *keyEntry, bool, error) {
	switch mode {
	case "internal", "exported":
		typ, err := str(req.Data, "key_type")
		if err != nil {
			return nil, nil, false, err
		}
		bits, err := integer(req.Data, "key_bits", 0)
		if err != nil {
			return nil, nil, false, err
		}
		typ, bits, err = keyParams(typ, bits)
		if err != nil {
			return nil, nil, false, err
		}
		s, err := generateKey(typ, bits)
		if err != nil {
			return nil, nil, false, err
		}
		name, err := str(req.Data, "key_name")
		if err != nil {
			return nil, nil, false, err
		}
		k, err := newKeyEntry(s, name)
		return s, k, true, err
	case "existing":
		ref, err := str(req.Data, "key_ref")
		if err != nil {
			return nil, nil, false, err
		}
		k, err := resolveKey(ctx, req.Storage, ref)
		if err != nil {
			return nil, nil, false, err
		}
		s, err := k.signer()
		return s, k, false, err
	}
	return nil, nil, false, logical.BadRequest("the last path segment must be internal, exported or existing")
}

func resolveKey(ctx context.Context, s logical.Storage, ref string) (*keyEntry, error) {
	if ref == "" {
		return nil, logical.BadRequest("key_ref is required")
	}
	if ref == "default" {
		iss, err := resolveIssuer(ctx, s, "default")
		if err != nil {
			return nil, err
		}
		if iss == nil || iss.KeyID == "" {
			return nil, logical.BadRequest("no default key")
		}
		ref = iss.KeyID
	}
	if k, err := loadKey(ctx, s, ref); err != nil || k != nil {
		return k, err
	}
	all, err := listKeyEntries(ctx, s)
	if err != nil {
		return nil, err
	}
	for _, k := range all {
		if k.Name == ref {
			return k, nil
		}
	}
	return nil, logical.BadRequest("key %q does not exist", ref)
}

func (b *backend) generateRoot(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.newRoot(ctx, req, p["exported"], false)
}

func (b *backend) rotateRoot(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.newRoot(ctx, req, p["exported"], true)
}

func (b *backend) newRoot(ctx context.Context, req *logical.Request, mode string, rotate bool) (*logical.Response, error) {
	if err := caFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	spec, err := b.caSpec(ctx, req, true)
	if err != nil {
		return nil, err
	}
	def, max := b.ttls(req)
	if _, ok := req.Data["ttl"]; !ok {
		def = max
	}
	backdate, _, err := logical.Duration(req.Data, "not_before_duration")
	if err != nil {
		return nil, err
	}
	if _, ok := req.Data["not_before_duration"]; !ok {
		backdate = 30 * time.Second
	}
	var warnings []string
	spec.NotBefore, spec.NotAfter, warnings, err = b.lifetime(req.Data, def, 0, backdate, nil)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	signer, key, fresh, err := b.caKey(ctx, req, mode)
	if err != nil {
		return nil, err
	}
	spec.Pub = signer.Public()
	der, c, err := build(spec, nil, signer)
	if err != nil {
		return nil, err
	}
	name, err := str(req.Data, "issuer_name")
	if err != nil {
		return nil, err
	}
	if err := b.checkIssuerName(ctx, req.Storage, name, ""); err != nil {
		return nil, err
	}
	if fresh {
		if err := putKey(ctx, req.Storage, key); err != nil {
			return nil, err
		}
	}
	iss := &issuerEntry{ID: uuid.New(), Name: name, KeyID: key.ID, CertPEM: certPEM(der), LeafNotAfterBehavior: "err", Usage: defaultUsage, cert: c}
	if err := putIssuer(ctx, req.Storage, iss); err != nil {
		return nil, err
	}
	if err := b.maybeDefault(ctx, req.Storage, iss.ID, rotate); err != nil {
		return nil, err
	}
	if err := storeCert(ctx, req.Storage, c); err != nil {
		return nil, err
	}
	resp := &logical.Response{Warnings: warnings, Data: map[string]any{
		"certificate": certPEM(der), "issuing_ca": certPEM(der), "serial_number": formatSerial(c.SerialNumber),
		"expiration": c.NotAfter.Unix(), "issuer_id": iss.ID, "issuer_name": iss.Name, "key_id": key.ID, "key_name": key.Name,
	}}
	if mode == "exported" {
		if err := addPrivateKey(resp.Data, signer, req.Data); err != nil {
			return nil, err
		}
	}
	return formatResponse(resp, req.Data)
}

// maybeDefault makes id the default issuer when there is none, when the
// config says new issuers become it, or for a non-rotating root.
func (b *backend) maybeDefault(ctx context.Context, s logical.Storage, id string, rotate bool) error {
	cfg, err := loadIssuersConfig(ctx, s)
	if err != nil {
		return err
	}
	if cfg.Default != "" && rotate && !cfg.DefaultFollowsLatestIssuer {
		return nil
	}
	if cfg.Default != "" && !rotate && !cfg.DefaultFollowsLatestIssuer {
		if cur, err := loadIssuer(ctx, s, cfg.Default); err != nil || cur != nil {
			return err
		}
	}
	cfg.Default = id
	return logical.PutJSON(ctx, s, "config/issuers", cfg)
}

func (b *backend) generateIntermediate(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.newCSR(ctx, req, p["exported"])
}

// crossSignCSR makes a CSR for an existing key, so another CA can sign a
// second certificate for the same key (a cross-signed intermediate).
func (b *backend) crossSignCSR(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	return b.newCSR(ctx, req, "existing")
}

func (b *backend) newCSR(ctx context.Context, req *logical.Request, mode string) (*logical.Response, error) {
	if err := caFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	spec, err := b.caSpec(ctx, req, true)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	signer, key, fresh, err := b.caKey(ctx, req, mode)
	if err != nil {
		return nil, err
	}
	tpl := &x509.CertificateRequest{
		Subject: spec.Subject, DNSNames: spec.DNS, EmailAddresses: spec.Emails, IPAddresses: spec.IPs, URIs: spec.URIs,
		SignatureAlgorithm: sigAlg(signer.Public(), spec.SigBits, spec.UsePSS),
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tpl, signer)
	if err != nil {
		return nil, logical.BadRequest("create CSR: %v", err)
	}
	if fresh {
		if err := putKey(ctx, req.Storage, key); err != nil {
			return nil, err
		}
	}
	resp := &logical.Response{Data: map[string]any{
		"csr":    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
		"key_id": key.ID, "key_name": key.Name,
	}}
	if mode == "exported" {
		if err := addPrivateKey(resp.Data, signer, req.Data); err != nil {
			return nil, err
		}
	}
	return formatResponse(resp, req.Data)
}

func parseCSR(s string) (*x509.CertificateRequest, error) {
	b, _ := pem.Decode([]byte(s))
	var der []byte
	if b != nil && (b.Type == "CERTIFICATE REQUEST" || b.Type == "NEW CERTIFICATE REQUEST") {
		der = b.Bytes
	} else if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s)); err == nil {
		der = raw
	} else {
		return nil, logical.BadRequest("csr: expected a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, logical.BadRequest("csr: malformed certificate request")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, logical.BadRequest("csr: its signature does not verify")
	}
	return csr, nil
}

func (b *backend) signIntermediate(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	fields := signIntFields
	if _, ok := p["ref"]; ok {
		fields = fields.With(refField)
	}
	if err := fields.Unknown(req.Data); err != nil {
		return nil, err
	}
	ref := p["ref"]
	if ref == "" {
		var err error
		if ref, err = str(req.Data, "issuer_ref"); err != nil {
			return nil, err
		}
	}
	iss, err := mustIssuer(ctx, req.Storage, ref)
	if err != nil {
		return nil, err
	}
	signer, err := issuerSigner(ctx, req.Storage, iss, "issuing-certificates")
	if err != nil {
		return nil, err
	}
	csrPEM, err := str(req.Data, "csr")
	if err != nil {
		return nil, err
	}
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	useCSR, err := boolean(req.Data, "use_csr_values", false)
	if err != nil {
		return nil, err
	}
	var spec *certSpec
	if useCSR {
		spec = &certSpec{IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			Subject: csr.Subject, DNS: csr.DNSNames, Emails: csr.EmailAddresses, IPs: csr.IPAddresses, URIs: csr.URIs}
		if spec.MaxPathLen, err = integer(req.Data, "max_path_length", -1); err != nil {
			return nil, err
		}
		if spec.Permitted, err = strs(req.Data, "permitted_dns_domains"); err != nil {
			return nil, err
		}
		if spec.URLs, err = loadURLs(ctx, req.Storage); err != nil {
			return nil, err
		}
	} else {
		d := req.Data
		if _, ok := d["common_name"]; !ok && csr.Subject.CommonName != "" {
			d = maps(d, "common_name", csr.Subject.CommonName)
		}
		r2 := *req
		r2.Data = d
		if spec, err = b.caSpec(ctx, &r2, true); err != nil {
			return nil, err
		}
	}
	spec.SigBits, _ = integer(req.Data, "signature_bits", 0)
	spec.UsePSS, _ = boolean(req.Data, "use_pss", false)
	spec.Pub = csr.PublicKey
	def, max := b.ttls(req)
	if _, ok := req.Data["ttl"]; !ok {
		def = max
	}
	backdate, _, err := logical.Duration(req.Data, "not_before_duration")
	if err != nil {
		return nil, err
	}
	if _, ok := req.Data["not_before_duration"]; !ok {
		backdate = 30 * time.Second
	}
	var warnings []string
	if spec.NotBefore, spec.NotAfter, warnings, err = b.lifetime(req.Data, def, 0, backdate, iss); err != nil {
		return nil, err
	}
	der, c, err := build(spec, iss.cert, signer)
	if err != nil {
		return nil, err
	}
	if err := storeCert(ctx, req.Storage, c); err != nil {
		return nil, err
	}
	all, err := listIssuers(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	caChain := chain(iss, all)
	resp := &logical.Response{Warnings: warnings, Data: map[string]any{
		"certificate": certPEM(der), "issuing_ca": iss.CertPEM, "ca_chain": append([]string{certPEM(der)}, caChain...),
		"serial_number": formatSerial(c.SerialNumber), "expiration": c.NotAfter.Unix(),
	}}
	return formatResponse(resp, req.Data)
}

func (b *backend) setSigned(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "certificate"); err != nil {
		return nil, err
	}
	cert, err := str(req.Data, "certificate")
	if err != nil {
		return nil, err
	}
	if strings.Contains(cert, "PRIVATE KEY") {
		return nil, logical.BadRequest("certificate: the bundle must not hold a private key (use config/ca)")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	res, err := importBundle(ctx, req.Storage, cert)
	if err != nil {
		return nil, err
	}
	keyed := false
	for _, id := range append(slices.Clone(res.Issuers), res.Existing...) {
		if res.Mapping[id] != "" {
			keyed = true
		}
	}
	if !keyed {
		return nil, logical.BadRequest("none of the certificates matches a key of this mount (was the CSR made here?)")
	}
	return &logical.Response{Data: res.data()}, nil
}

func (b *backend) importCA(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "pem_bundle"); err != nil {
		return nil, err
	}
	bundle, err := str(req.Data, "pem_bundle")
	if err != nil {
		return nil, err
	}
	if p["kind"] == "cert" && strings.Contains(bundle, "PRIVATE KEY") {
		return nil, logical.BadRequest("issuers/import/cert takes no private keys (use issuers/import/bundle)")
	}
	if k := p["kind"]; k != "" && k != "cert" && k != "bundle" {
		return nil, logical.ErrUnsupportedPath
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	res, err := importBundle(ctx, req.Storage, bundle)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: res.data()}, nil
}
