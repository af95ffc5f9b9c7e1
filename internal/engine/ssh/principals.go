package ssh

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/keyward/keyward/internal/logical"
)

// anyValue is the whole-field wildcard of allowed_users, allowed_domains,
// allowed_extensions and allowed_critical_options.
const anyValue = "*"

// splitList splits one of Vault's comma-separated role lists, trimming
// entries and dropping empty ones and duplicates.
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// checkPrincipalSyntax refuses what no principal should hold: nothing,
// spaces or control characters, and the pattern characters OpenSSH
// expands in host certificate principals and principals files ("*", "?",
// "!", ","), so a principal names one user or host, never a set.
func checkPrincipalSyntax(p string) error {
	if p == "" {
		return fmt.Errorf("empty principal")
	}
	for _, c := range p {
		if unicode.IsSpace(c) || unicode.IsControl(c) || strings.ContainsRune("*?!,", c) {
			return fmt.Errorf("principal %q has a character that is not allowed", p)
		}
	}
	return nil
}

// principalPolicy is what a role lets a certificate of one type carry.
type principalPolicy struct {
	allowed []string // allowed_users or allowed_domains, split
	anyOK   bool     // the list is "*"
	host    bool     // host certificate: domain rules instead of exact users
	bare    bool     // allow_bare_domains
	sub     bool     // allow_subdomains
	def     string   // default_user (users only)
	emptyOK bool     // allow_empty_principals
}

func userPolicy(r *role) principalPolicy {
	return principalPolicy{allowed: splitList(r.AllowedUsers), anyOK: r.AllowedUsers == anyValue,
		def: r.DefaultUser, emptyOK: r.AllowEmptyPrincipals}
}

func hostPolicy(r *role) principalPolicy {
	return principalPolicy{allowed: splitList(r.AllowedDomains), anyOK: r.AllowedDomains == anyValue,
		host: true, bare: r.AllowBareDomains, sub: r.AllowSubdomains, emptyOK: r.AllowEmptyPrincipals}
}

// permits reports whether one principal is allowed. Users match an entry
// exactly. Hosts match an entry exactly with allow_bare_domains, or are
// a subdomain of one ("a.example.com", "a.b.example.com" of
// "example.com", never "example.com" itself nor "badexample.com") with
// allow_subdomains. Matching is byte for byte: no globs, no case folding,
// no trailing-dot equivalence, so a role never signs more than it names.
func (pp principalPolicy) permits(p string) bool {
	if checkPrincipalSyntax(p) != nil {
		return false
	}
	if pp.anyOK {
		return true
	}
	for _, a := range pp.allowed {
		if !pp.host {
			if p == a {
				return true
			}
			continue
		}
		if pp.bare && p == a {
			return true
		}
		if pp.sub {
			if label, ok := strings.CutSuffix(p, "."+a); ok && validLabels(label) {
				return true
			}
		}
	}
	return false
}

// validLabels reports whether s is one or more non-empty dot-separated
// hostname labels (the part of a subdomain before its allowed domain):
// letters, digits, "-" and "_" only, so "x.evil.com/" or "a:b" never pass
// as a subdomain of the allowed domain.
func validLabels(s string) bool {
	if s == "" {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// principals returns the certificate's principals for a request: the
// requested ones, or the role's default user, each of which the role must
// allow. An empty result is an error unless the role allows it.
func (pp principalPolicy) principals(requested []string) ([]string, error) {
	var out []string
	for _, p := range requested {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 && pp.def != "" {
		out = []string{pp.def}
	}
	if len(out) == 0 {
		if pp.emptyOK {
			return nil, nil
		}
		return nil, logical.BadRequest("empty valid principals not allowed by role")
	}
	if len(pp.allowed) == 0 && !pp.anyOK {
		return nil, logical.BadRequest("role is not configured to allow any principals")
	}
	for _, p := range out {
		if !pp.permits(p) {
			return nil, logical.BadRequest("%s is not a valid value for valid_principals", quoteSafe(p))
		}
	}
	return out, nil
}

// quoteSafe quotes a requested name for an error message (%q escapes
// control characters, so a hostile name cannot forge log lines).
func quoteSafe(s string) string { return fmt.Sprintf("%q", s) }

// options picks a certificate's extensions or critical options: the
// requested ones, each named in allowed (emptyAllowsAll: an empty list
// allows any, as allowed_critical_options does; otherwise an empty list
// allows none, as allowed_extensions does), or the role's defaults when
// the request has none. With keepDefaults (critical options, which
// restrict: a default source-address or force-command) the requested
// ones are added to the defaults instead, overriding only the names they
// set, so a request can never drop a role's restriction by asking for
// another option.
func options(kind string, requested, defaults map[string]string, allowed string, emptyAllowsAll, keepDefaults bool) (map[string]string, error) {
	if len(requested) == 0 {
		if len(defaults) == 0 {
			return nil, nil
		}
		return cloneMap(defaults), nil
	}
	list := splitList(allowed)
	anyOK := allowed == anyValue || (emptyAllowsAll && len(list) == 0)
	var refused []string
	for k := range requested {
		if k == "" {
			return nil, logical.BadRequest("%s: empty name", kind)
		}
		if !anyOK && !slices.Contains(list, k) {
			refused = append(refused, quoteSafe(k))
		}
	}
	if len(refused) > 0 {
		sort.Strings(refused)
		return nil, logical.BadRequest("%s not allowed by role: %s", kind, strings.Join(refused, ", "))
	}
	if !keepDefaults {
		return cloneMap(requested), nil
	}
	out := cloneMap(defaults)
	for k, v := range requested {
		out[k] = v
	}
	return out, nil
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// keyIDVars are the values a key_id_format may use.
type keyIDVars struct {
	DisplayName   string
	RoleName      string
	PublicKeyHash string
}

// renderKeyID expands {{token_display_name}}, {{role_name}} and
// {{public_key_hash}} in format; any other {{...}} is an error.
func renderKeyID(format string, v keyIDVars) (string, error) {
	var b strings.Builder
	rest := format
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if strings.Contains(rest, "}}") {
				return "", logical.BadRequest("key_id_format: unbalanced }}")
			}
			b.WriteString(rest)
			return b.String(), nil
		}
		b.WriteString(rest[:i])
		rest = rest[i+2:]
		j := strings.Index(rest, "}}")
		if j < 0 {
			return "", logical.BadRequest("key_id_format: unclosed {{")
		}
		switch name := strings.TrimSpace(rest[:j]); name {
		case "token_display_name":
			b.WriteString(v.DisplayName)
		case "role_name":
			b.WriteString(v.RoleName)
		case "public_key_hash":
			b.WriteString(v.PublicKeyHash)
		default:
			return "", logical.BadRequest("key_id_format: unknown template %q (want token_display_name, role_name or public_key_hash)", name)
		}
		rest = rest[j+2:]
	}
}
