package pki

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

var leafFields = subjectFields.With(
	logical.Field{Name: "role", InPath: true, Description: "The role."},
	logical.Field{Name: "issuer_ref", Type: logical.TypeString, Description: "Overrides the role's issuer."},
	logical.Field{Name: "remove_roots_from_chain", Type: logical.TypeBool, Description: "Leave self-signed certificates out of ca_chain."},
	logical.Field{Name: "user_ids", Type: logical.TypeSlice, Description: "Accepted for compatibility; must be empty."},
)

var issueFields = leafFields

var signFields = leafFields.With(logical.Field{Name: "csr", Type: logical.TypeString, Description: "The CSR in PEM."})

var verbatimFields = signFields.With(
	logical.Field{Name: "key_usage", Type: logical.TypeSlice},
	logical.Field{Name: "ext_key_usage", Type: logical.TypeSlice},
	logical.Field{Name: "ext_key_usage_oids", Type: logical.TypeSlice},
	logical.Field{Name: "signature_bits", Type: logical.TypeInt},
	logical.Field{Name: "use_pss", Type: logical.TypeBool},
)

func (b *backend) issue(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.leaf(ctx, req, p, false)
}

func (b *backend) sign(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.leaf(ctx, req, p, true)
}

func (b *backend) roleFor(ctx context.Context, req *logical.Request, name string) (*role, error) {
	r, err := loadRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.BadRequest("unknown role: %s", name)
	}
	return r, nil
}

// leaf serves issue/ROLE and sign/ROLE.
func (b *backend) leaf(ctx context.Context, req *logical.Request, p logical.Params, withCSR bool) (*logical.Response, error) {
	fields := issueFields
	if withCSR {
		fields = signFields
	}
	if _, ok := p["ref"]; ok {
		fields = fields.With(refField)
	}
	if err := fields.Unknown(req.Data); err != nil {
		return nil, err
	}
	if ids, _ := strs(req.Data, "user_ids"); len(ids) > 0 {
		return nil, logical.BadRequest("user_ids are not supported")
	}
	r, err := b.roleFor(ctx, req, p["role"])
	if err != nil {
		return nil, err
	}
	spec := &certSpec{}
	var signer crypto.Signer
	data := req.Data
	if withCSR {
		csrPEM, err := str(data, "csr")
		if err != nil {
			return nil, err
		}
		csr, err := parseCSR(csrPEM)
		if err != nil {
			return nil, err
		}
		if err := checkCSRKey(r, csr.PublicKey); err != nil {
			return nil, err
		}
		spec.Pub = csr.PublicKey
		data = csrNames(r, data, csr)
	} else {
		if r.KeyType == "any" {
			return nil, logical.BadRequest("role key_type any can only sign CSRs")
		}
		signer, err = generateKey(r.KeyType, r.KeyBits)
		if err != nil {
			return nil, err
		}
		spec.Pub = signer.Public()
	}
	if err := b.leafSpec(ctx, req, r, spec, data); err != nil {
		return nil, err
	}
	ref := r.IssuerRef
	if v, ok := p["ref"]; ok {
		ref = v
	} else if v, _ := str(req.Data, "issuer_ref"); v != "" {
		ref = v
	}
	return b.finish(ctx, req, r, spec, signer, ref, data)
}

// csrNames fills the request's names from the CSR where the role says so
// (use_csr_common_name, use_csr_sans) and the request gives none. What
// comes from the CSR is checked like any other requested name.
func csrNames(r *role, data map[string]any, csr *x509.CertificateRequest) map[string]any {
	d := data
	if cn, _ := str(data, "common_name"); cn == "" && r.UseCSRCommonName && csr.Subject.CommonName != "" {
		d = maps(d, "common_name", csr.Subject.CommonName)
	}
	if r.UseCSRSANs {
		if v, _ := strs(data, "alt_names"); len(v) == 0 {
			alt := append(append([]string{}, csr.DNSNames...), csr.EmailAddresses...)
			if len(alt) > 0 {
				d = maps(d, "alt_names", alt)
			}
		}
		if v, _ := strs(data, "ip_sans"); len(v) == 0 && len(csr.IPAddresses) > 0 {
			ips := make([]string, len(csr.IPAddresses))
			for i, ip := range csr.IPAddresses {
				ips[i] = ip.String()
			}
			d = maps(d, "ip_sans", ips)
		}
		if v, _ := strs(data, "uri_sans"); len(v) == 0 && len(csr.URIs) > 0 {
			us := make([]string, len(csr.URIs))
			for i, u := range csr.URIs {
				us[i] = u.String()
			}
			d = maps(d, "uri_sans", us)
		}
		if v, _ := strs(data, "other_sans"); len(v) == 0 {
			if o := otherSANs(csr.Extensions); len(o) > 0 {
				d = maps(d, "other_sans", o)
			}
		}
	}
	return d
}

// checkCSRKey holds a CSR's key to the role's key_type and key_bits
// (bits are a minimum for rsa, exact for ec, as in Vault).
func checkCSRKey(r *role, pub crypto.PublicKey) error {
	typ, bits, err := describeKey(pub)
	if err != nil {
		return logical.BadRequest("csr: unsupported key type")
	}
	if r.KeyType == "any" {
		if typ == "rsa" && bits < 2048 {
			return logical.BadRequest("csr: RSA keys must be at least 2048 bits")
		}
		return nil
	}
	if typ != r.KeyType {
		return logical.BadRequest("csr: role requires a %s key, the CSR has %s", r.KeyType, typ)
	}
	if typ == "rsa" && bits < r.KeyBits || typ == "ec" && bits != r.KeyBits {
		return logical.BadRequest("csr: role requires %d-bit keys, the CSR has %d", r.KeyBits, bits)
	}
	return nil
}

// leafSpec fills spec from the role and the request: names checked by the
// role's policy, usages and lifetime.
func (b *backend) leafSpec(ctx context.Context, req *logical.Request, r *role, spec *certSpec, data map[string]any) error {
	var err error
	if spec.Subject, err = subject(map[string]any{"serial_number": data["serial_number"]}, r); err != nil {
		return err
	}
	if err := names(r.policy(), spec, data, r.RequireCN); err != nil {
		return err
	}
	if spec.Subject.CommonName == "" && len(spec.DNS)+len(spec.Emails)+len(spec.IPs)+len(spec.URIs)+len(spec.OtherSANs) == 0 {
		return logical.BadRequest("the certificate would carry no name")
	}
	if spec.KeyUsage, err = keyUsages(r.KeyUsage); err != nil {
		return err
	}
	if _, ok := spec.Pub.(ed25519.PublicKey); ok {
		spec.KeyUsage &^= x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement
		spec.KeyUsage |= x509.KeyUsageDigitalSignature
	}
	if spec.ExtKeyUsage, spec.EKUOIDs, err = r.extUsages(); err != nil {
		return err
	}
	spec.SigBits, spec.UsePSS = r.SignatureBits, r.UsePSS
	if spec.URLs, err = loadURLs(ctx, req.Storage); err != nil {
		return err
	}
	return nil
}

// finish signs spec with the issuer, stores the certificate unless the
// role says no_store, and writes the response (with a lease when the role
// says generate_lease).
func (b *backend) finish(ctx context.Context, req *logical.Request, r *role, spec *certSpec, key crypto.Signer, ref string, data map[string]any) (*logical.Response, error) {
	iss, err := mustIssuer(ctx, req.Storage, ref)
	if err != nil {
		return nil, err
	}
	issSigner, err := issuerSigner(ctx, req.Storage, iss, "issuing-certificates")
	if err != nil {
		return nil, err
	}
	def, max := b.ttls(req)
	if r.TTL > 0 {
		def = r.TTL
	}
	if r.MaxTTL > 0 {
		max = r.MaxTTL
	}
	if def > max {
		def = max
	}
	var warnings []string
	if spec.NotBefore, spec.NotAfter, warnings, err = b.lifetime(data, def, max, r.NotBeforeDuration, iss); err != nil {
		return nil, err
	}
	der, c, err := build(spec, iss.cert, issSigner)
	if err != nil {
		return nil, err
	}
	if !r.NoStore {
		if err := storeCert(ctx, req.Storage, c); err != nil {
			return nil, err
		}
	}
	all, err := listIssuers(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	caChain := chain(iss, all)
	if rm, _ := boolean(req.Data, "remove_roots_from_chain", false); rm {
		var kept []string
		for _, s := range caChain {
			if pc, err := parseCertPEM(s); err == nil && !isSelfSigned(pc) {
				kept = append(kept, s)
			}
		}
		caChain = kept
	}
	resp := &logical.Response{Warnings: warnings, Data: map[string]any{
		"certificate": certPEM(der), "issuing_ca": iss.CertPEM, "ca_chain": caChain,
		"serial_number": formatSerial(c.SerialNumber), "expiration": c.NotAfter.Unix(),
	}}
	if key != nil {
		if err := addPrivateKey(resp.Data, key, req.Data); err != nil {
			return nil, err
		}
	}
	if r.GenerateLease {
		ttl := time.Until(c.NotAfter)
		if b.now != nil {
			ttl = c.NotAfter.Sub(b.now())
		}
		resp.Secret = &logical.Secret{TTL: ttl, MaxTTL: ttl, Renewable: false,
			InternalData: map[string]any{"serial_number": formatSerial(c.SerialNumber)}}
	}
	return formatResponse(resp, req.Data)
}

// Revoke is the lease revocation of a generate_lease certificate.
func (b *backend) Revoke(ctx context.Context, req *logical.Request, s *logical.Secret) error {
	serial, _ := s.InternalData["serial_number"].(string)
	if serial == "" {
		return fmt.Errorf("pki lease without a serial number")
	}
	_, err := b.revokeSerial(ctx, req.Storage, serial, nil)
	return err
}

func (b *backend) signVerbatim(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	fields := verbatimFields
	if _, ok := p["ref"]; ok {
		fields = fields.With(refField)
	}
	if err := fields.Unknown(req.Data); err != nil {
		return nil, err
	}
	r := newRole()
	r.AllowAnyName, r.EnforceHostnames, r.KeyType, r.RequireCN = true, false, "any", false
	r.ServerFlag, r.ClientFlag = false, false
	if name := p["role"]; name != "" {
		rr, err := b.roleFor(ctx, req, name)
		if err != nil {
			return nil, err
		}
		r.TTL, r.MaxTTL, r.NoStore, r.GenerateLease, r.IssuerRef = rr.TTL, rr.MaxTTL, rr.NoStore, rr.GenerateLease, rr.IssuerRef
		r.NotBeforeDuration = rr.NotBeforeDuration
	}
	var err error
	if v, ok, err := logical.Strings(req.Data, "key_usage"); err != nil {
		return nil, err
	} else if ok {
		r.KeyUsage = v
	}
	if r.ExtKeyUsage, err = strs(req.Data, "ext_key_usage"); err != nil {
		return nil, err
	}
	if r.ExtKeyUsageOIDs, err = strs(req.Data, "ext_key_usage_oids"); err != nil {
		return nil, err
	}
	if r.SignatureBits, err = integer(req.Data, "signature_bits", 0); err != nil {
		return nil, err
	}
	if r.UsePSS, err = boolean(req.Data, "use_pss", false); err != nil {
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
	if err := checkCSRKey(r, csr.PublicKey); err != nil {
		return nil, err
	}
	spec := &certSpec{Subject: csr.Subject, DNS: csr.DNSNames, Emails: csr.EmailAddresses, IPs: csr.IPAddresses,
		URIs: append([]*url.URL(nil), csr.URIs...), Pub: csr.PublicKey}
	for _, o := range otherSANs(csr.Extensions) {
		oid, v, _ := strings.Cut(o, ";UTF8:")
		spec.OtherSANs = append(spec.OtherSANs, [2]string{oid, v})
	}
	if spec.KeyUsage, err = keyUsages(r.KeyUsage); err != nil {
		return nil, err
	}
	if spec.ExtKeyUsage, spec.EKUOIDs, err = r.extUsages(); err != nil {
		return nil, err
	}
	spec.SigBits, spec.UsePSS = r.SignatureBits, r.UsePSS
	if spec.URLs, err = loadURLs(ctx, req.Storage); err != nil {
		return nil, err
	}
	ref := r.IssuerRef
	if v, ok := p["ref"]; ok {
		ref = v
	}
	return b.finish(ctx, req, r, spec, nil, ref, req.Data)
}
