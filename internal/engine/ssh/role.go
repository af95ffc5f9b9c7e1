package ssh

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/keyward/keyward/internal/logical"
)

const (
	rolePrefix = "roles/"
	// algoDefault is algorithm_signer's stored default: rsa-sha2-256 for
	// an RSA CA.
	algoDefault = "default"
	// defaultKeyIDFormat is Vault's key ID when a role sets none.
	defaultKeyIDFormat = "vault-{{token_display_name}}-{{public_key_hash}}"
	// defaultNotBefore backdates valid_after for clock skew, as Vault does.
	defaultNotBefore = 30 * time.Second
)

// role is one roles/NAME entry. Lists are kept as Vault's comma-separated
// strings, so a read gives back what was written.
type role struct {
	KeyType                string            `json:"key_type"`
	AllowUserCertificates  bool              `json:"allow_user_certificates"`
	AllowHostCertificates  bool              `json:"allow_host_certificates"`
	AllowedUsers           string            `json:"allowed_users"`
	DefaultUser            string            `json:"default_user"`
	AllowedDomains         string            `json:"allowed_domains"`
	AllowSubdomains        bool              `json:"allow_subdomains"`
	AllowBareDomains       bool              `json:"allow_bare_domains"`
	AllowEmptyPrincipals   bool              `json:"allow_empty_principals"`
	AllowedExtensions      string            `json:"allowed_extensions"`
	DefaultExtensions      map[string]string `json:"default_extensions"`
	AllowedCriticalOptions string            `json:"allowed_critical_options"`
	DefaultCriticalOptions map[string]string `json:"default_critical_options"`
	TTL                    int64             `json:"ttl"`     // seconds
	MaxTTL                 int64             `json:"max_ttl"` // seconds
	AlgorithmSigner        string            `json:"algorithm_signer"`
	AllowedUserKeyLengths  map[string][]int  `json:"allowed_user_key_lengths"`
	KeyIDFormat            string            `json:"key_id_format"`
	AllowUserKeyIDs        bool              `json:"allow_user_key_ids"`
	NotBeforeDuration      int64             `json:"not_before_duration"` // seconds
}

var roleFields = logical.Fields{
	{Name: "role", InPath: true, Description: "The role's name."},
	{Name: "key_type", Type: logical.TypeString, Description: "Must be \"ca\" (Vault's otp and dynamic roles are not implemented)."},
	{Name: "allow_user_certificates", Type: logical.TypeBool, Description: "Sign user certificates."},
	{Name: "allow_host_certificates", Type: logical.TypeBool, Description: "Sign host certificates."},
	{Name: "allowed_users", Type: logical.TypeString, Description: "Comma-separated user principals a user certificate may carry, matched exactly; \"*\" allows any."},
	{Name: "default_user", Type: logical.TypeString, Description: "The principal of a user certificate when the request names none; it must also be allowed."},
	{Name: "allowed_users_template", Type: logical.TypeBool, Description: "Refused when true: identity templates need an identity store."},
	{Name: "default_user_template", Type: logical.TypeBool, Description: "Refused when true: identity templates need an identity store."},
	{Name: "allowed_domains", Type: logical.TypeString, Description: "Comma-separated domains for host principals; \"*\" allows any."},
	{Name: "allowed_domains_template", Type: logical.TypeBool, Description: "Refused when true: identity templates need an identity store."},
	{Name: "allow_subdomains", Type: logical.TypeBool, Description: "Host principals may be subdomains of allowed_domains."},
	{Name: "allow_bare_domains", Type: logical.TypeBool, Description: "Host principals may equal an entry of allowed_domains."},
	{Name: "allow_empty_principals", Type: logical.TypeBool, Description: "Sign a certificate with no principals (valid for every user or host). Off by default."},
	{Name: "allowed_extensions", Type: logical.TypeString, Description: "Comma-separated extensions a request may set; empty allows none, \"*\" any."},
	{Name: "default_extensions", Type: logical.TypeMap, Description: "Extensions of a user certificate whose request sets none."},
	{Name: "default_extensions_template", Type: logical.TypeBool, Description: "Refused when true: identity templates need an identity store."},
	{Name: "allowed_critical_options", Type: logical.TypeString, Description: "Comma-separated critical options a request may set; empty or \"*\" allows any."},
	{Name: "default_critical_options", Type: logical.TypeMap, Description: "Critical options of a user certificate whose request sets none."},
	{Name: "ttl", Type: logical.TypeDuration, Description: "Lifetime of a certificate whose request gives none (default: the mount's)."},
	{Name: "max_ttl", Type: logical.TypeDuration, Description: "Longest lifetime (default: the mount's maximum)."},
	{Name: "algorithm_signer", Type: logical.TypeString, Default: algoDefault, Description: "Signature algorithm of an rsa CA: rsa-sha2-256 (default) or rsa-sha2-512."},
	{Name: "allowed_user_key_lengths", Type: logical.TypeMap, Description: "Key families that may be signed and their sizes, e.g. {\"rsa\": [2048, 4096], \"ed25519\": 256}; empty allows any supported key."},
	{Name: "key_id_format", Type: logical.TypeString, Default: defaultKeyIDFormat, Description: "Key ID template over {{token_display_name}}, {{role_name}} and {{public_key_hash}}."},
	{Name: "allow_user_key_ids", Type: logical.TypeBool, Description: "A request may set key_id."},
	{Name: "not_before_duration", Type: logical.TypeDuration, Default: int(defaultNotBefore / time.Second), Description: "How far valid_after is backdated for clock skew."},
	// Vault fields of other role types, accepted at their zero value.
	{Name: "cidr_list", Type: logical.TypeString, Description: "Not supported (otp roles)."},
	{Name: "exclude_cidr_list", Type: logical.TypeString, Description: "Not supported (otp roles)."},
	{Name: "port", Type: logical.TypeInt, Description: "Not supported (otp roles)."},
}

func loadRole(ctx context.Context, s logical.Storage, name string) (*role, error) {
	var r role
	found, err := logical.GetJSON(ctx, s, rolePrefix+name, &r)
	if err != nil {
		return nil, fmt.Errorf("ssh: load role %q: %w", name, err)
	}
	if !found {
		return nil, nil
	}
	return &r, nil
}

func (b *backend) roleExists(ctx context.Context, req *logical.Request, p logical.Params) (bool, error) {
	r, err := loadRole(ctx, req.Storage, p["role"])
	return r != nil, err
}

func (b *backend) listRoles(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, rolePrefix)
	if err != nil {
		return nil, fmt.Errorf("ssh: list roles: %w", err)
	}
	if len(names) == 0 {
		return nil, nil
	}
	info := make(map[string]any, len(names))
	for _, n := range names {
		info[n] = map[string]any{"key_type": "ca"}
	}
	return &logical.Response{Data: map[string]any{"keys": names, "key_info": info}}, nil
}

func (b *backend) readRole(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	r, err := loadRole(ctx, req.Storage, p["role"])
	if err != nil || r == nil {
		return nil, err
	}
	return &logical.Response{Data: r.info()}, nil
}

func (b *backend) deleteRole(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := req.Storage.Delete(ctx, rolePrefix+p["role"]); err != nil {
		return nil, fmt.Errorf("ssh: delete role %q: %w", p["role"], err)
	}
	return nil, nil
}

// info is the role as Vault's read returns it.
func (r *role) info() map[string]any {
	lengths := map[string]any{}
	for k, v := range r.AllowedUserKeyLengths {
		lengths[k] = v
	}
	orEmpty := func(m map[string]string) map[string]string {
		if m == nil {
			return map[string]string{}
		}
		return m
	}
	return map[string]any{
		"key_type":                    r.KeyType,
		"allow_user_certificates":     r.AllowUserCertificates,
		"allow_host_certificates":     r.AllowHostCertificates,
		"allowed_users":               r.AllowedUsers,
		"default_user":                r.DefaultUser,
		"allowed_users_template":      false,
		"default_user_template":       false,
		"allowed_domains":             r.AllowedDomains,
		"allowed_domains_template":    false,
		"allow_subdomains":            r.AllowSubdomains,
		"allow_bare_domains":          r.AllowBareDomains,
		"allow_empty_principals":      r.AllowEmptyPrincipals,
		"allowed_extensions":          r.AllowedExtensions,
		"default_extensions":          orEmpty(r.DefaultExtensions),
		"default_extensions_template": false,
		"allowed_critical_options":    r.AllowedCriticalOptions,
		"default_critical_options":    orEmpty(r.DefaultCriticalOptions),
		"ttl":                         r.TTL,
		"max_ttl":                     r.MaxTTL,
		"algorithm_signer":            r.AlgorithmSigner,
		"allowed_user_key_lengths":    lengths,
		"key_id_format":               r.KeyIDFormat,
		"allow_user_key_ids":          r.AllowUserKeyIDs,
		"not_before_duration":         r.NotBeforeDuration,
	}
}

// writeRole creates or replaces a role: like Vault's, a write sets every
// field, and a field left out takes its default.
func (b *backend) writeRole(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	d := req.Data
	if err := roleFields.Unknown(d); err != nil {
		return nil, err
	}
	if err := logical.NotSupported(d, "cidr_list", "exclude_cidr_list", "port"); err != nil {
		return nil, err
	}
	for _, f := range []string{"allowed_users_template", "default_user_template", "allowed_domains_template", "default_extensions_template"} {
		on, _, err := logical.Bool(d, f)
		if err != nil {
			return nil, err
		}
		if on {
			return nil, logical.BadRequest("%s is not supported: ssh roles do not render identity templates yet", f)
		}
	}
	var r role
	var err error
	str := func(key string, dst *string) {
		if err == nil {
			*dst, _, err = logical.Str(d, key)
			*dst = strings.TrimSpace(*dst)
		}
	}
	boolean := func(key string, dst *bool) {
		if err == nil {
			*dst, _, err = logical.Bool(d, key)
		}
	}
	str("key_type", &r.KeyType)
	boolean("allow_user_certificates", &r.AllowUserCertificates)
	boolean("allow_host_certificates", &r.AllowHostCertificates)
	str("allowed_users", &r.AllowedUsers)
	str("default_user", &r.DefaultUser)
	str("allowed_domains", &r.AllowedDomains)
	boolean("allow_subdomains", &r.AllowSubdomains)
	boolean("allow_bare_domains", &r.AllowBareDomains)
	boolean("allow_empty_principals", &r.AllowEmptyPrincipals)
	str("allowed_extensions", &r.AllowedExtensions)
	str("allowed_critical_options", &r.AllowedCriticalOptions)
	str("algorithm_signer", &r.AlgorithmSigner)
	str("key_id_format", &r.KeyIDFormat)
	boolean("allow_user_key_ids", &r.AllowUserKeyIDs)
	if err != nil {
		return nil, err
	}
	if r.KeyType != "ca" {
		return nil, logical.BadRequest("key_type must be \"ca\": only certificate authority roles are supported")
	}
	if !r.AllowUserCertificates && !r.AllowHostCertificates {
		return nil, logical.BadRequest("either allow_user_certificates or allow_host_certificates must be set")
	}
	if r.DefaultExtensions, _, err = logical.StringMap(d, "default_extensions"); err != nil {
		return nil, err
	}
	if r.DefaultCriticalOptions, _, err = logical.StringMap(d, "default_critical_options"); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key string
		dst *int64
		def time.Duration
	}{{"ttl", &r.TTL, 0}, {"max_ttl", &r.MaxTTL, 0}, {"not_before_duration", &r.NotBeforeDuration, defaultNotBefore}} {
		v, ok, err := logical.Duration(d, f.key)
		if err != nil {
			return nil, err
		}
		if !ok {
			v = f.def
		}
		*f.dst = int64(v / time.Second)
	}
	if r.MaxTTL > 0 && r.TTL > r.MaxTTL {
		return nil, logical.BadRequest("ttl cannot be longer than max_ttl")
	}
	switch r.AlgorithmSigner {
	case "":
		r.AlgorithmSigner = algoDefault
	case algoDefault, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512:
	case ssh.KeyAlgoRSA:
		return nil, logical.BadRequest("algorithm_signer ssh-rsa (SHA-1) is not supported: use rsa-sha2-256 or rsa-sha2-512")
	default:
		return nil, logical.BadRequest("algorithm_signer must be default, rsa-sha2-256 or rsa-sha2-512")
	}
	if r.KeyIDFormat == "" {
		r.KeyIDFormat = defaultKeyIDFormat
	}
	if _, err := renderKeyID(r.KeyIDFormat, keyIDVars{}); err != nil {
		return nil, err
	}
	if r.AllowedUserKeyLengths, err = parseKeyLengths(d["allowed_user_key_lengths"]); err != nil {
		return nil, err
	}
	if r.DefaultUser != "" {
		if err := checkPrincipalSyntax(r.DefaultUser); err != nil {
			return nil, logical.BadRequest("default_user: %v", err)
		}
	}
	if err := logical.PutJSON(ctx, req.Storage, rolePrefix+p["role"], &r); err != nil {
		return nil, fmt.Errorf("ssh: store role %q: %w", p["role"], err)
	}
	return nil, nil
}

// parseKeyLengths reads allowed_user_key_lengths: a map from a key family
// (Vault's names: rsa, ec, ecdsa, ed25519, ssh-*) to one size or a list.
func parseKeyLengths(raw any) (map[string][]int, error) {
	if raw == nil {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		if s, isStr := raw.(string); isStr && strings.TrimSpace(s) == "" {
			return nil, nil
		}
		return nil, logical.BadRequest("allowed_user_key_lengths: expected a map of key type to sizes")
	}
	out := map[string][]int{}
	for k, v := range m {
		family, ok := keyFamily(k)
		if !ok {
			return nil, logical.BadRequest("allowed_user_key_lengths: unknown key type %q", k)
		}
		var items []any
		switch t := v.(type) {
		case []any:
			items = t
		default:
			items = []any{t}
		}
		for _, it := range items {
			n, err := sizeOf(it)
			if err != nil {
				return nil, logical.BadRequest("allowed_user_key_lengths: %q: expected key sizes in bits", k)
			}
			if !slices.Contains(out[family], n) {
				out[family] = append(out[family], n)
			}
		}
		sort.Ints(out[family])
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func sizeOf(v any) (int, error) {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = t.String()
	case float64:
		s = strconv.FormatFloat(t, 'f', -1, 64)
	case int:
		s = strconv.Itoa(t)
	case string:
		s = strings.TrimSpace(t)
	default:
		return 0, fmt.Errorf("not a number")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("not a positive integer")
	}
	return n, nil
}
