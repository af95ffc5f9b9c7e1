package pki

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// role is roles/NAME: what issue/ROLE and sign/ROLE may put in a
// certificate.
type role struct {
	TTL               time.Duration `json:"ttl"`
	MaxTTL            time.Duration `json:"max_ttl"`
	NotBeforeDuration time.Duration `json:"not_before_duration"`
	AllowedDomains    []string      `json:"allowed_domains"`
	AllowSubdomains   bool          `json:"allow_subdomains"`
	AllowGlobDomains  bool          `json:"allow_glob_domains"`
	AllowBareDomains  bool          `json:"allow_bare_domains"`
	AllowLocalhost    bool          `json:"allow_localhost"`
	AllowAnyName      bool          `json:"allow_any_name"`
	EnforceHostnames  bool          `json:"enforce_hostnames"`
	AllowWildcards    bool          `json:"allow_wildcard_certificates"`
	AllowIPSANs       bool          `json:"allow_ip_sans"`
	AllowedURISANs    []string      `json:"allowed_uri_sans"`
	AllowedOtherSANs  []string      `json:"allowed_other_sans"`
	ServerFlag        bool          `json:"server_flag"`
	ClientFlag        bool          `json:"client_flag"`
	CodeSigningFlag   bool          `json:"code_signing_flag"`
	EmailProtection   bool          `json:"email_protection_flag"`
	KeyType           string        `json:"key_type"`
	KeyBits           int           `json:"key_bits"`
	KeyUsage          []string      `json:"key_usage"`
	ExtKeyUsage       []string      `json:"ext_key_usage"`
	ExtKeyUsageOIDs   []string      `json:"ext_key_usage_oids"`
	UseCSRCommonName  bool          `json:"use_csr_common_name"`
	UseCSRSANs        bool          `json:"use_csr_sans"`
	Organization      []string      `json:"organization"`
	OU                []string      `json:"ou"`
	Country           []string      `json:"country"`
	Locality          []string      `json:"locality"`
	Province          []string      `json:"province"`
	StreetAddress     []string      `json:"street_address"`
	PostalCode        []string      `json:"postal_code"`
	NoStore           bool          `json:"no_store"`
	GenerateLease     bool          `json:"generate_lease"`
	RequireCN         bool          `json:"require_cn"`
	IssuerRef         string        `json:"issuer_ref"`
	SignatureBits     int           `json:"signature_bits"`
	UsePSS            bool          `json:"use_pss"`
}

func (r *role) policy() namePolicy {
	return namePolicy{
		AllowedDomains: r.AllowedDomains, AllowSubdomains: r.AllowSubdomains, AllowGlobDomains: r.AllowGlobDomains,
		AllowBareDomains: r.AllowBareDomains, AllowLocalhost: r.AllowLocalhost, AllowAnyName: r.AllowAnyName,
		EnforceHostnames: r.EnforceHostnames, AllowWildcards: r.AllowWildcards, AllowIPSANs: r.AllowIPSANs,
		AllowedURISANs: r.AllowedURISANs, AllowedOtherSANs: r.AllowedOtherSANs,
	}
}

var roleFields = logical.Fields{
	{Name: "name", InPath: true, Description: "The role's name."},
	{Name: "ttl", Type: logical.TypeDuration, Description: "Lifetime of certificates when the request names none."},
	{Name: "max_ttl", Type: logical.TypeDuration, Description: "Longest lifetime a request may ask for."},
	{Name: "not_before_duration", Type: logical.TypeDuration, Default: 30, Description: "How far NotBefore is backdated."},
	{Name: "allowed_domains", Type: logical.TypeSlice, Description: "Domains names must sit in (with allow_bare_domains, allow_subdomains, allow_glob_domains)."},
	{Name: "allow_subdomains", Type: logical.TypeBool, Description: "Allow names below allowed_domains (and wildcards of them)."},
	{Name: "allow_glob_domains", Type: logical.TypeBool, Description: "allowed_domains entries with * are globs; * matches any run, dots included."},
	{Name: "allow_bare_domains", Type: logical.TypeBool, Description: "Allow the allowed_domains themselves."},
	{Name: "allow_localhost", Type: logical.TypeBool, Default: true, Description: "Allow localhost and localdomain."},
	{Name: "allow_any_name", Type: logical.TypeBool, Description: "Allow any name (still subject to enforce_hostnames)."},
	{Name: "enforce_hostnames", Type: logical.TypeBool, Default: true, Description: "Only hostnames (and emails) as names."},
	{Name: "allow_wildcard_certificates", Type: logical.TypeBool, Default: true, Description: "Allow a leading *. label."},
	{Name: "allow_ip_sans", Type: logical.TypeBool, Default: true, Description: "Allow IP SANs."},
	{Name: "allowed_uri_sans", Type: logical.TypeSlice, Description: "Globs URI SANs must match (SPIFFE IDs are also validated)."},
	{Name: "allowed_other_sans", Type: logical.TypeSlice, Description: "OID;UTF8:glob entries, or * for any."},
	{Name: "server_flag", Type: logical.TypeBool, Default: true, Description: "Add the serverAuth extended key usage."},
	{Name: "client_flag", Type: logical.TypeBool, Default: true, Description: "Add the clientAuth extended key usage."},
	{Name: "code_signing_flag", Type: logical.TypeBool, Description: "Add the codeSigning extended key usage."},
	{Name: "email_protection_flag", Type: logical.TypeBool, Description: "Add the emailProtection extended key usage."},
	{Name: "key_type", Type: logical.TypeString, Default: "rsa", Description: "rsa, ec, ed25519 or any (sign only)."},
	{Name: "key_bits", Type: logical.TypeInt, Description: "Key size: 2048 (rsa) or 256 (ec) by default."},
	{Name: "key_usage", Type: logical.TypeSlice, Default: "DigitalSignature,KeyAgreement,KeyEncipherment", Description: "x509 key usages."},
	{Name: "ext_key_usage", Type: logical.TypeSlice, Description: "More extended key usages by name (ServerAuth, ClientAuth, ...)."},
	{Name: "ext_key_usage_oids", Type: logical.TypeSlice, Description: "More extended key usages by OID."},
	{Name: "use_csr_common_name", Type: logical.TypeBool, Default: true, Description: "sign: take the CN from the CSR when the request has none."},
	{Name: "use_csr_sans", Type: logical.TypeBool, Default: true, Description: "sign: take the SANs from the CSR."},
	{Name: "organization", Type: logical.TypeSlice, Description: "Subject O."},
	{Name: "ou", Type: logical.TypeSlice, Description: "Subject OU."},
	{Name: "country", Type: logical.TypeSlice, Description: "Subject C."},
	{Name: "locality", Type: logical.TypeSlice, Description: "Subject L."},
	{Name: "province", Type: logical.TypeSlice, Description: "Subject ST."},
	{Name: "street_address", Type: logical.TypeSlice, Description: "Subject street."},
	{Name: "postal_code", Type: logical.TypeSlice, Description: "Subject postal code."},
	{Name: "no_store", Type: logical.TypeBool, Description: "Do not store issued certificates (they cannot be listed or revoked by serial)."},
	{Name: "generate_lease", Type: logical.TypeBool, Description: "Return a lease; revoking it revokes the certificate."},
	{Name: "require_cn", Type: logical.TypeBool, Default: true, Description: "Refuse requests without a common name."},
	{Name: "issuer_ref", Type: logical.TypeString, Default: "default", Description: "The issuer that signs for this role."},
	{Name: "signature_bits", Type: logical.TypeInt, Description: "Hash size of RSA/EC signatures (256, 384, 512)."},
	{Name: "use_pss", Type: logical.TypeBool, Description: "RSA-PSS signatures with an RSA issuer."},
}

func loadRole(ctx context.Context, s logical.Storage, name string) (*role, error) {
	var r role
	found, err := logical.GetJSON(ctx, s, "role/"+name, &r)
	if err != nil || !found {
		return nil, err
	}
	return &r, nil
}

// parseRole applies data to r (a new role holds the defaults).
func parseRole(r *role, data map[string]any) error {
	durs := map[string]*time.Duration{"ttl": &r.TTL, "max_ttl": &r.MaxTTL, "not_before_duration": &r.NotBeforeDuration}
	for k, p := range durs {
		v, ok, err := logical.Duration(data, k)
		if err != nil {
			return err
		}
		if ok {
			*p = v
		}
	}
	bools := map[string]*bool{
		"allow_subdomains": &r.AllowSubdomains, "allow_glob_domains": &r.AllowGlobDomains, "allow_bare_domains": &r.AllowBareDomains,
		"allow_localhost": &r.AllowLocalhost, "allow_any_name": &r.AllowAnyName, "enforce_hostnames": &r.EnforceHostnames,
		"allow_wildcard_certificates": &r.AllowWildcards, "allow_ip_sans": &r.AllowIPSANs, "server_flag": &r.ServerFlag,
		"client_flag": &r.ClientFlag, "code_signing_flag": &r.CodeSigningFlag, "email_protection_flag": &r.EmailProtection,
		"use_csr_common_name": &r.UseCSRCommonName, "use_csr_sans": &r.UseCSRSANs, "no_store": &r.NoStore,
		"generate_lease": &r.GenerateLease, "require_cn": &r.RequireCN, "use_pss": &r.UsePSS,
	}
	for k, p := range bools {
		v, ok, err := logical.Bool(data, k)
		if err != nil {
			return err
		}
		if ok {
			*p = v
		}
	}
	lists := map[string]*[]string{
		"allowed_domains": &r.AllowedDomains, "allowed_uri_sans": &r.AllowedURISANs, "allowed_other_sans": &r.AllowedOtherSANs,
		"key_usage": &r.KeyUsage, "ext_key_usage": &r.ExtKeyUsage, "ext_key_usage_oids": &r.ExtKeyUsageOIDs,
		"organization": &r.Organization, "ou": &r.OU, "country": &r.Country, "locality": &r.Locality,
		"province": &r.Province, "street_address": &r.StreetAddress, "postal_code": &r.PostalCode,
	}
	for k, p := range lists {
		v, ok, err := logical.Strings(data, k)
		if err != nil {
			return err
		}
		if ok {
			*p = v
		}
	}
	if v, ok, err := logical.Str(data, "key_type"); err != nil {
		return err
	} else if ok {
		if _, bits := data["key_bits"]; !bits && v != r.KeyType {
			r.KeyBits = 0 // the new type's default
		}
		r.KeyType = v
	}
	if v, ok, err := logical.Str(data, "issuer_ref"); err != nil {
		return err
	} else if ok {
		r.IssuerRef = v
	}
	for k, p := range map[string]*int{"key_bits": &r.KeyBits, "signature_bits": &r.SignatureBits} {
		v, ok, err := logical.Int(data, k)
		if err != nil {
			return err
		}
		if ok {
			*p = v
		}
	}
	if r.KeyType != "any" {
		t, bits, err := keyParams(r.KeyType, r.KeyBits)
		if err != nil {
			return err
		}
		r.KeyType, r.KeyBits = t, bits
	}
	doms, err := canonicalDomains(r.AllowedDomains, r.AllowGlobDomains)
	if err != nil {
		return logical.BadRequest("%v", err)
	}
	r.AllowedDomains = doms
	if r.MaxTTL > 0 && r.TTL > r.MaxTTL {
		return logical.BadRequest("ttl is longer than max_ttl")
	}
	if _, err := keyUsages(r.KeyUsage); err != nil {
		return err
	}
	if _, err := extKeyUsages(r.ExtKeyUsage); err != nil {
		return err
	}
	for _, o := range r.ExtKeyUsageOIDs {
		if _, err := parseOID(o); err != nil {
			return logical.BadRequest("ext_key_usage_oids: %q is not an OID", o)
		}
	}
	for _, o := range r.AllowedOtherSANs {
		if o == "*" {
			continue
		}
		oid, rest, ok := strings.Cut(o, ";")
		if _, err := parseOID(oid); !ok || err != nil || !strings.HasPrefix(rest, "UTF8:") && !strings.HasPrefix(rest, "UTF-8:") {
			return logical.BadRequest(`allowed_other_sans entries look like "1.2.3.4;UTF8:glob" or "*"`)
		}
	}
	return nil
}

func newRole() *role {
	return &role{
		NotBeforeDuration: 30 * time.Second, AllowLocalhost: true, EnforceHostnames: true, AllowWildcards: true,
		AllowIPSANs: true, ServerFlag: true, ClientFlag: true, KeyType: "rsa", KeyBits: 2048,
		KeyUsage: []string{"DigitalSignature", "KeyAgreement", "KeyEncipherment"}, UseCSRCommonName: true,
		UseCSRSANs: true, RequireCN: true, IssuerRef: "default",
	}
}

func (r *role) data() map[string]any {
	return map[string]any{
		"ttl": int64(r.TTL.Seconds()), "max_ttl": int64(r.MaxTTL.Seconds()), "not_before_duration": int64(r.NotBeforeDuration.Seconds()),
		"allowed_domains": orEmpty(r.AllowedDomains), "allow_subdomains": r.AllowSubdomains, "allow_glob_domains": r.AllowGlobDomains,
		"allow_bare_domains": r.AllowBareDomains, "allow_localhost": r.AllowLocalhost, "allow_any_name": r.AllowAnyName,
		"enforce_hostnames": r.EnforceHostnames, "allow_wildcard_certificates": r.AllowWildcards, "allow_ip_sans": r.AllowIPSANs,
		"allowed_uri_sans": orEmpty(r.AllowedURISANs), "allowed_other_sans": orEmpty(r.AllowedOtherSANs), "server_flag": r.ServerFlag,
		"client_flag": r.ClientFlag, "code_signing_flag": r.CodeSigningFlag, "email_protection_flag": r.EmailProtection,
		"key_type": r.KeyType, "key_bits": r.KeyBits, "key_usage": orEmpty(r.KeyUsage), "ext_key_usage": orEmpty(r.ExtKeyUsage),
		"ext_key_usage_oids": orEmpty(r.ExtKeyUsageOIDs), "use_csr_common_name": r.UseCSRCommonName, "use_csr_sans": r.UseCSRSANs,
		"organization": orEmpty(r.Organization), "ou": orEmpty(r.OU), "country": orEmpty(r.Country), "locality": orEmpty(r.Locality),
		"province": orEmpty(r.Province), "street_address": orEmpty(r.StreetAddress), "postal_code": orEmpty(r.PostalCode),
		"no_store": r.NoStore, "generate_lease": r.GenerateLease, "require_cn": r.RequireCN, "issuer_ref": r.IssuerRef,
		"signature_bits": r.SignatureBits, "use_pss": r.UsePSS,
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

var keyUsageNames = map[string]x509.KeyUsage{
	"digitalsignature": x509.KeyUsageDigitalSignature, "contentcommitment": x509.KeyUsageContentCommitment,
	"keyencipherment": x509.KeyUsageKeyEncipherment, "dataencipherment": x509.KeyUsageDataEncipherment,
	"keyagreement": x509.KeyUsageKeyAgreement, "certsign": x509.KeyUsageCertSign, "crlsign": x509.KeyUsageCRLSign,
	"encipheronly": x509.KeyUsageEncipherOnly, "decipheronly": x509.KeyUsageDecipherOnly,
}

func keyUsages(names []string) (x509.KeyUsage, error) {
	var ku x509.KeyUsage
	for _, n := range names {
		u, ok := keyUsageNames[strings.ToLower(strings.TrimPrefix(n, "KeyUsage"))]
		if !ok {
			return 0, logical.BadRequest("key_usage: unknown usage %q", n)
		}
		ku |= u
	}
	return ku, nil
}

var extKeyUsageNames = map[string]x509.ExtKeyUsage{
	"any": x509.ExtKeyUsageAny, "serverauth": x509.ExtKeyUsageServerAuth, "clientauth": x509.ExtKeyUsageClientAuth,
	"codesigning": x509.ExtKeyUsageCodeSigning, "emailprotection": x509.ExtKeyUsageEmailProtection,
	"ipsecendsystem": x509.ExtKeyUsageIPSECEndSystem, "ipsectunnel": x509.ExtKeyUsageIPSECTunnel,
	"ipsecuser": x509.ExtKeyUsageIPSECUser, "timestamping": x509.ExtKeyUsageTimeStamping,
	"ocspsigning": x509.ExtKeyUsageOCSPSigning, "microsoftservergatedcrypto": x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	"netscapeservergatedcrypto":      x509.ExtKeyUsageNetscapeServerGatedCrypto,
	"microsoftcommercialcodesigning": x509.ExtKeyUsageMicrosoftCommercialCodeSigning,
	"microsoftkernelcodesigning":     x509.ExtKeyUsageMicrosoftKernelCodeSigning,
}

func extKeyUsages(names []string) ([]x509.ExtKeyUsage, error) {
	var out []x509.ExtKeyUsage
	for _, n := range names {
		u, ok := extKeyUsageNames[strings.ToLower(strings.TrimPrefix(n, "ExtKeyUsage"))]
		if !ok {
			return nil, logical.BadRequest("ext_key_usage: unknown usage %q", n)
		}
		out = append(out, u)
	}
	return out, nil
}

// extUsages is every extended key usage the role grants.
func (r *role) extUsages() ([]x509.ExtKeyUsage, []asn1.ObjectIdentifier, error) {
	eku, err := extKeyUsages(r.ExtKeyUsage)
	if err != nil {
		return nil, nil, err
	}
	for flag, u := range map[*bool]x509.ExtKeyUsage{&r.ServerFlag: x509.ExtKeyUsageServerAuth, &r.ClientFlag: x509.ExtKeyUsageClientAuth,
		&r.CodeSigningFlag: x509.ExtKeyUsageCodeSigning, &r.EmailProtection: x509.ExtKeyUsageEmailProtection} {
		if *flag {
			eku = append(eku, u)
		}
	}
	var oids []asn1.ObjectIdentifier
	for _, o := range r.ExtKeyUsageOIDs {
		oid, err := parseOID(o)
		if err != nil {
			return nil, nil, fmt.Errorf("ext_key_usage_oids: %w", err)
		}
		oids = append(oids, oid)
	}
	return sortEKU(eku), oids, nil
}

func sortEKU(in []x509.ExtKeyUsage) []x509.ExtKeyUsage {
	seen := map[x509.ExtKeyUsage]bool{}
	var out []x509.ExtKeyUsage
	for u := x509.ExtKeyUsageAny; u <= x509.ExtKeyUsageMicrosoftKernelCodeSigning; u++ {
		for _, v := range in {
			if v == u && !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
	}
	return out
}
