package pki

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/uuid"
)

var subjectFields = logical.Fields{
	{Name: "common_name", Type: logical.TypeString, Description: "The subject CN."},
	{Name: "alt_names", Type: logical.TypeSlice, Description: "DNS and email SANs."},
	{Name: "ip_sans", Type: logical.TypeSlice, Description: "IP SANs."},
	{Name: "uri_sans", Type: logical.TypeSlice, Description: "URI SANs."},
	{Name: "other_sans", Type: logical.TypeSlice, Description: "OID;UTF8:value SANs."},
	{Name: "exclude_cn_from_sans", Type: logical.TypeBool, Description: "Do not copy the CN into the SANs."},
	{Name: "ttl", Type: logical.TypeDuration, Description: "Lifetime."},
	{Name: "not_after", Type: logical.TypeString, Description: "An RFC 3339 expiry instead of ttl."},
	{Name: "format", Type: logical.TypeString, Default: "pem", Description: "pem, der or pem_bundle."},
	{Name: "private_key_format", Type: logical.TypeString, Default: "der", Description: "der (PKCS#1/SEC 1) or pkcs8, always PEM-armoured unless format=der."},
	{Name: "serial_number", Type: logical.TypeString, Description: "The subject's serialNumber attribute (not the certificate serial)."},
}

var orgFields = logical.Fields{
	{Name: "organization", Type: logical.TypeSlice}, {Name: "ou", Type: logical.TypeSlice}, {Name: "country", Type: logical.TypeSlice},
	{Name: "locality", Type: logical.TypeSlice}, {Name: "province", Type: logical.TypeSlice},
	{Name: "street_address", Type: logical.TypeSlice}, {Name: "postal_code", Type: logical.TypeSlice},
}

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

var issuerFields = logical.Fields{refField,
	{Name: "issuer_name", Type: logical.TypeString},
	{Name: "leaf_not_after_behavior", Type: logical.TypeString, Description: "err, truncate or permit."},
	{Name: "usage", Type: logical.TypeSlice, Description: "read-only, issuing-certificates, crl-signing, ocsp-signing."},
	{Name: "manual_chain", Type: logical.TypeSlice, Description: "Issuer references making up the chain, self first."},
}

// anyName is the name policy of CA certificates the operator asks for
// directly (root, intermediate): every well-formed name.
var anyName = namePolicy{AllowAnyName: true, AllowWildcards: true, AllowIPSANs: true, AllowedURISANs: []string{"*"}, AllowedOtherSANs: []string{"*"}}

func str(data map[string]any, key string) (string, error) {
	v, _, err := logical.Str(data, key)
	return v, err
}

func strs(data map[string]any, key string) ([]string, error) {
	v, _, err := logical.Strings(data, key)
	return v, err
}

func boolean(data map[string]any, key string, def bool) (bool, error) {
	v, ok, err := logical.Bool(data, key)
	if !ok {
		return def, err
	}
	return v, err
}

func integer(data map[string]any, key string, def int) (int, error) {
	v, ok, err := logical.Int(data, key)
	if !ok {
		return def, err
	}
	return v, err
}

// subject reads the subject fields; role values fill what data omits.
func subject(data map[string]any, r *role) (pkix.Name, error) {
	var n pkix.Name
	fields := map[string]*[]string{"organization": &n.Organization, "ou": &n.OrganizationalUnit, "country": &n.Country,
		"locality": &n.Locality, "province": &n.Province, "street_address": &n.StreetAddress, "postal_code": &n.PostalCode}
	for k, p := range fields {
		v, err := strs(data, k)
		if err != nil {
			return n, err
		}
		*p = v
	}
	if r != nil {
		n.Organization, n.OrganizationalUnit, n.Country = r.Organization, r.OU, r.Country
		n.Locality, n.Province, n.StreetAddress, n.PostalCode = r.Locality, r.Province, r.StreetAddress, r.PostalCode
	}
	sn, err := str(data, "serial_number")
	n.SerialNumber = sn
	return n, err
}

// names checks and collects the CN and SANs of a request under pol.
func names(pol namePolicy, spec *certSpec, data map[string]any, requireCN bool) error {
	cn, err := str(data, "common_name")
	if err != nil {
		return err
	}
	exclude, err := boolean(data, "exclude_cn_from_sans", false)
	if err != nil {
		return err
	}
	alt, err := strs(data, "alt_names")
	if err != nil {
		return err
	}
	ips, err := strs(data, "ip_sans")
	if err != nil {
		return err
	}
	uris, err := strs(data, "uri_sans")
	if err != nil {
		return err
	}
	others, err := strs(data, "other_sans")
	if err != nil {
		return err
	}
	return collectNames(pol, spec, cn, exclude, alt, ips, uris, others, requireCN)
}

func collectNames(pol namePolicy, spec *certSpec, cn string, exclude bool, alt, ips, uris, others []string, requireCN bool) error {
	if cn == "" && requireCN {
		return logical.BadRequest("common_name is required by this role")
	}
	addDNS := func(d string) {
		if !slices.Contains(spec.DNS, d) {
			spec.DNS = append(spec.DNS, d)
		}
	}
	addEmail := func(e string) {
		if !slices.Contains(spec.Emails, e) {
			spec.Emails = append(spec.Emails, e)
		}
	}
	addIP := func(s string) error {
		a, err := pol.checkIP(s)
		if err != nil {
			return logical.BadRequest("%v", err)
		}
		ip := a.AsSlice()
		for _, have := range spec.IPs {
			if have.Equal(ip) {
				return nil
			}
		}
		spec.IPs = append(spec.IPs, ip)
		return nil
	}
	if cn != "" {
		switch {
		case strings.Contains(cn, "@"):
			e, err := pol.checkEmail(cn)
			if err != nil {
				return logical.BadRequest("common_name: %v", err)
			}
			spec.Subject.CommonName = e
			if !exclude {
				addEmail(e)
			}
		case isIP(cn):
			a, err := pol.checkIP(cn)
			if err != nil {
				return logical.BadRequest("common_name: %v", err)
			}
			spec.Subject.CommonName = a.String()
			if !exclude {
				if err := addIP(cn); err != nil {
					return err
				}
			}
		default:
			c, host, err := pol.checkName(cn)
			if err != nil {
				return logical.BadRequest("common_name: %v", err)
			}
			spec.Subject.CommonName = c
			if host && !exclude {
				addDNS(c)
			}
		}
	}
	for _, a := range alt {
		if strings.Contains(a, "@") {
			e, err := pol.checkEmail(a)
			if err != nil {
				return logical.BadRequest("alt_names: %v", err)
			}
			addEmail(e)
			continue
		}
		d, err := pol.checkHost(a)
		if err != nil {
			return logical.BadRequest("alt_names: %v", err)
		}
		addDNS(d)
	}
	for _, ip := range ips {
		if err := addIP(ip); err != nil {
			return err
		}
	}
	for _, s := range uris {
		u, err := pol.checkURI(s)
		if err != nil {
			return logical.BadRequest("uri_sans: %v", err)
		}
		spec.URIs = append(spec.URIs, u)
	}
	for _, s := range others {
		oid, v, err := pol.checkOtherSAN(s)
		if err != nil {
			return logical.BadRequest("other_sans: %v", err)
		}
		spec.OtherSANs = append(spec.OtherSANs, [2]string{oid, v})
	}
	return nil
}

func isIP(s string) bool {
	_, err := anyName.checkIP(s)
	return err == nil
}

// lifetime computes NotBefore and NotAfter from ttl or not_after, capped
// by max (with a warning) and by the issuer per leaf_not_after_behavior.
func (b *backend) lifetime(data map[string]any, def, max, backdate time.Duration, iss *issuerEntry) (time.Time, time.Time, []string, error) {
	now := b.now()
	var warnings []string
	ttl, _, err := logical.Duration(data, "ttl")
	if err != nil {
		return time.Time{}, time.Time{}, nil, err
	}
	na, err := str(data, "not_after")
	if err != nil {
		return time.Time{}, time.Time{}, nil, err
	}
	var notAfter time.Time
	if na != "" {
		notAfter, err = time.Parse(time.RFC3339, na)
		if err != nil {
			return time.Time{}, time.Time{}, nil, logical.BadRequest("not_after: expected an RFC 3339 time")
		}
	} else {
		if ttl == 0 {
			ttl = def
		}
		if max > 0 && ttl > max {
			warnings = append(warnings, fmt.Sprintf("ttl is longer than the maximum; capped to %s", max))
			ttl = max
		}
		notAfter = now.Add(ttl)
	}
	if !notAfter.After(now) {
		return time.Time{}, time.Time{}, nil, logical.BadRequest("the certificate would already be expired")
	}
	if iss != nil && notAfter.After(iss.cert.NotAfter) {
		switch iss.LeafNotAfterBehavior {
		case "permit":
		case "truncate":
			notAfter = iss.cert.NotAfter
		default:
			return time.Time{}, time.Time{}, nil, logical.BadRequest("cannot satisfy request, as the requested lifetime ends after the issuer's (%s); set leaf_not_after_behavior or ask for less", iss.cert.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return now.Add(-backdate), notAfter, warnings, nil
}

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

func (b *backend) checkIssuerName(ctx context.Context, s logical.Storage, name, self string) error {
	if name == "" {
		return nil
	}
	if name == "default" || strings.ContainsAny(name, "/ ") || uuidLike(name) {
		return logical.BadRequest("issuer_name may not be default, look like an ID, or contain / or spaces")
	}
	all, err := listIssuers(ctx, s)
	if err != nil {
		return err
	}
	for _, e := range all {
		if e.Name == name && e.ID != self {
			return logical.BadRequest("issuer_name %q is already in use", name)
		}
	}
	return nil
}

func uuidLike(s string) bool { return len(s) == 36 && strings.Count(s, "-") == 4 }

// addPrivateKey puts the key in an exported response. Only the caller
// sees it: audit HMACs it and nothing logs response data.
func addPrivateKey(data map[string]any, k crypto.Signer, in map[string]any) error {
	f, err := str(in, "private_key_format")
	if err != nil {
		return err
	}
	if f != "" && f != "der" && f != "pkcs8" {
		return logical.BadRequest("private_key_format must be der or pkcs8")
	}
	pemKey, typ, err := marshalKeyPEM(k, f)
	if err != nil {
		return err
	}
	data["private_key"] = pemKey
	data["private_key_type"] = typ
	return nil
}

// formatResponse applies format: pem (default), der (base64 DER) or
// pem_bundle (certificate preceded by the key and followed by the chain).
func formatResponse(resp *logical.Response, in map[string]any) (*logical.Response, error) {
	f, err := str(in, "format")
	if err != nil {
		return nil, err
	}
	d := resp.Data
	switch f {
	case "", "pem":
	case "der":
		for _, k := range []string{"certificate", "issuing_ca", "csr"} {
			if s, ok := d[k].(string); ok {
				d[k] = pemToB64(s)
			}
		}
		if c, ok := d["ca_chain"].([]string); ok {
			out := make([]string, len(c))
			for i, s := range c {
				out[i] = pemToB64(s)
			}
			d["ca_chain"] = out
		}
		if s, ok := d["private_key"].(string); ok {
			d["private_key"] = pemToB64(s)
		}
	case "pem_bundle":
		if s, ok := d["certificate"].(string); ok {
			var sb strings.Builder
			if k, ok := d["private_key"].(string); ok {
				sb.WriteString(k)
			}
			sb.WriteString(s)
			if c, ok := d["ca_chain"].([]string); ok {
				for _, e := range c {
					sb.WriteString(e)
				}
			} else if ic, ok := d["issuing_ca"].(string); ok && ic != s {
				sb.WriteString(ic)
			}
			d["certificate"] = strings.TrimSpace(sb.String())
		}
	default:
		return nil, logical.BadRequest("format must be pem, der or pem_bundle")
	}
	for k, v := range d {
		if s, ok := v.(string); ok && strings.HasPrefix(s, "-----BEGIN") {
			d[k] = strings.TrimSpace(s)
		}
		if c, ok := v.([]string); ok {
			for i, s := range c {
				c[i] = strings.TrimSpace(s)
			}
		}
	}
	return resp, nil
}

func pemToB64(s string) string {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return s
	}
	return base64.StdEncoding.EncodeToString(b.Bytes)
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

// maps returns a copy of d with k set to v.
func maps(d map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(d)+1)
	for dk, dv := range d {
		out[dk] = dv
	}
	out[k] = v
	return out
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

func (b *backend) listIssuers(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	all, err := listIssuers(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	cfg, err := loadIssuersConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	keys := []string{}
	info := map[string]any{}
	for _, e := range all {
		keys = append(keys, e.ID)
		info[e.ID] = map[string]any{"issuer_name": e.Name, "key_id": e.KeyID, "is_default": e.ID == cfg.Default,
			"serial_number": formatSerial(e.cert.SerialNumber)}
	}
	return &logical.Response{Data: map[string]any{"keys": keys, "key_info": info}}, nil
}

func (b *backend) readIssuer(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	iss, err := resolveIssuer(ctx, req.Storage, p["ref"])
	if err != nil || iss == nil {
		return nil, err
	}
	all, err := listIssuers(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: issuerData(iss, all)}, nil
}

func (b *backend) readIssuerCert(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	iss, err := resolveIssuer(ctx, req.Storage, p["ref"])
	if err != nil || iss == nil {
		return nil, err
	}
	switch {
	case strings.HasSuffix(req.Path, "/pem"):
		return &logical.Response{Raw: []byte(iss.CertPEM), ContentType: "application/pem-certificate-chain"}, nil
	case strings.HasSuffix(req.Path, "/der"):
		return &logical.Response{Raw: iss.cert.Raw, ContentType: "application/pkix-cert"}, nil
	}
	all, err := listIssuers(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"certificate": strings.TrimSpace(iss.CertPEM), "ca_chain": chain(iss, all),
		"issuer_id": iss.ID, "issuer_name": iss.Name}}, nil
}

func (b *backend) updateIssuer(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := issuerFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	iss, err := mustIssuer(ctx, req.Storage, p["ref"])
	if err != nil {
		return nil, err
	}
	if v, ok, err := logical.Str(req.Data, "issuer_name"); err != nil {
		return nil, err
	} else if ok {
		if err := b.checkIssuerName(ctx, req.Storage, v, iss.ID); err != nil {
			return nil, err
		}
		iss.Name = v
	}
	if v, ok, err := logical.Str(req.Data, "leaf_not_after_behavior"); err != nil {
		return nil, err
	} else if ok {
		if v != "err" && v != "truncate" && v != "permit" {
			return nil, logical.BadRequest("leaf_not_after_behavior must be err, truncate or permit")
		}
		iss.LeafNotAfterBehavior = v
	}
	if v, ok, err := logical.Strings(req.Data, "usage"); err != nil {
		return nil, err
	} else if ok {
		for _, u := range v {
			if !slices.Contains(strings.Split(defaultUsage, ","), u) {
				return nil, logical.BadRequest("usage: unknown usage %q", u)
			}
		}
		iss.Usage = strings.Join(v, ",")
	}
	if v, ok, err := logical.Strings(req.Data, "manual_chain"); err != nil {
		return nil, err
	} else if ok {
		var ids []string
		for _, ref := range v {
			if ref == "self" {
				ids = append(ids, iss.ID)
				continue
			}
			e, err := mustIssuer(ctx, req.Storage, ref)
			if err != nil {
				return nil, err
			}
			ids = append(ids, e.ID)
		}
		if len(ids) > 0 && ids[0] != iss.ID {
			return nil, logical.BadRequest("manual_chain must start with the issuer itself (self)")
		}
		iss.ManualChain = ids
	}
	if err := putIssuer(ctx, req.Storage, iss); err != nil {
		return nil, err
	}
	return b.readIssuer(ctx, req, logical.Params{"ref": iss.ID})
}

func (b *backend) deleteIssuer(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	iss, err := resolveIssuer(ctx, req.Storage, p["ref"])
	if err != nil || iss == nil {
		return nil, err
	}
	if err := req.Storage.Delete(ctx, "issuer/"+iss.ID); err != nil {
		return nil, err
	}
	cfg, err := loadIssuersConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg.Default == iss.ID {
		cfg.Default = ""
		if err := logical.PutJSON(ctx, req.Storage, "config/issuers", cfg); err != nil {
			return nil, err
		}
		return &logical.Response{Warnings: []string{"the deleted issuer was the default; there is no default issuer now"}}, nil
	}
	return nil, nil
}

func (b *backend) readIssuersConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	cfg, err := loadIssuersConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"default": cfg.Default, "default_follows_latest_issuer": cfg.DefaultFollowsLatestIssuer}}, nil
}

func (b *backend) writeIssuersConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "default", "default_follows_latest_issuer"); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cfg, err := loadIssuersConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if ref, ok, err := logical.Str(req.Data, "default"); err != nil {
		return nil, err
	} else if ok && ref != "" {
		if ref == "default" {
			return nil, logical.BadRequest("default must name an issuer")
		}
		iss, err := mustIssuer(ctx, req.Storage, ref)
		if err != nil {
			return nil, err
		}
		cfg.Default = iss.ID
	}
	if v, ok, err := logical.Bool(req.Data, "default_follows_latest_issuer"); err != nil {
		return nil, err
	} else if ok {
		cfg.DefaultFollowsLatestIssuer = v
	}
	if err := logical.PutJSON(ctx, req.Storage, "config/issuers", cfg); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"default": cfg.Default, "default_follows_latest_issuer": cfg.DefaultFollowsLatestIssuer}}, nil
}

func (b *backend) listKeys(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	all, err := listKeyEntries(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	keys := []string{}
	info := map[string]any{}
	for _, k := range all {
		keys = append(keys, k.ID)
		info[k.ID] = map[string]any{"key_name": k.Name, "key_type": k.Type}
	}
	return &logical.Response{Data: map[string]any{"keys": keys, "key_info": info}}, nil
}

func (b *backend) readKey(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	k, err := resolveKey(ctx, req.Storage, p["ref"])
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"key_id": k.ID, "key_name": k.Name, "key_type": k.Type, "key_bits": k.Bits}}, nil
}

func (b *backend) updateKey(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "key_name"); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k, err := resolveKey(ctx, req.Storage, p["ref"])
	if err != nil {
		return nil, err
	}
	if k.Name, err = str(req.Data, "key_name"); err != nil {
		return nil, err
	}
	if err := putKey(ctx, req.Storage, k); err != nil {
		return nil, err
	}
	return b.readKey(ctx, req, logical.Params{"ref": k.ID})
}

// readCA serves ca (DER), ca/pem and ca_chain for the default issuer.
func (b *backend) readCA(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	iss, err := resolveIssuer(ctx, req.Storage, "default")
	if err != nil {
		return nil, err
	}
	if iss == nil {
		return &logical.Response{Raw: []byte{}, ContentType: "application/pkix-cert", Status: 204}, nil
	}
	switch req.Path {
	case "ca":
		return &logical.Response{Raw: iss.cert.Raw, ContentType: "application/pkix-cert"}, nil
	case "ca/pem":
		return &logical.Response{Raw: []byte(iss.CertPEM), ContentType: "application/pem-certificate-chain"}, nil
	}
	all, err := listIssuers(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Raw: []byte(strings.Join(chain(iss, all), "")), ContentType: "application/pem-certificate-chain"}, nil
}
