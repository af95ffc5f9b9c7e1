package pki

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
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

// lifetime computes NotBefore and NotAfter from ttl or not_after: a ttl
// over max is capped (with a warning), a not_after past now+max refused,
// and either is bounded by the issuer per leaf_not_after_behavior.
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
		if max > 0 && notAfter.After(now.Add(max)) {
			return time.Time{}, time.Time{}, nil, logical.BadRequest("not_after is beyond the maximum lifetime (%s)", max)
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

// maps returns a copy of d with k set to v.
func maps(d map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(d)+1)
	for dk, dv := range d {
		out[dk] = dv
	}
	out[k] = v
	return out
}
