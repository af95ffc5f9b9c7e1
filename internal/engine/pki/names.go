package pki

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// namePolicy is the part of a role that decides which names a certificate
// may carry. Its methods are pure: they look at nothing but the policy and
// the name, so the table and fuzz tests cover all of the decision.
type namePolicy struct {
	AllowedDomains   []string // canonical (lower-case A-labels), see canonicalDomains
	AllowSubdomains  bool
	AllowGlobDomains bool
	AllowBareDomains bool
	AllowLocalhost   bool
	AllowAnyName     bool
	EnforceHostnames bool
	AllowWildcards   bool // allow_wildcard_certificates
	AllowIPSANs      bool
	AllowedURISANs   []string // globs
	AllowedOtherSANs []string // "OID;UTF8:glob" or "*"
}

var idnaProfile = idna.New(
	idna.ValidateForRegistration(), // refuses input that would need mapping (case, width, non-NFC)
	idna.StrictDomainName(true),
	idna.BidiRule(),
	idna.CheckHyphens(true),
	idna.CheckJoiners(true),
)

// canonicalHost returns name in the form a certificate carries and every
// check compares: ASCII, lower case, U-labels converted to A-labels. It
// refuses what is not a hostname at all: empty labels ("a..b", ".a", a
// trailing dot), a label over 63 bytes or a name over 253, characters
// outside letters, digits and hyphen, a hyphen at a label's edge, and
// Unicode that is not already in the normal form IDNA 2008 registers
// (so two spellings never map to one name behind a check). A leading
// "*." label is kept when wildcard is true.
func canonicalHost(name string, wildcard bool) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if !utf8.ValidString(name) {
		return "", errors.New("name is not valid UTF-8")
	}
	prefix := ""
	if wildcard && strings.HasPrefix(name, "*.") {
		prefix, name = "*.", name[2:]
	}
	ascii := true
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		a, err := idnaProfile.ToASCII(name)
		if err != nil {
			return "", errors.New("name is not a valid internationalized domain name")
		}
		name = a
	}
	name = strings.ToLower(name)
	if len(name) > 253 {
		return "", errors.New("name longer than 253 bytes")
	}
	for _, label := range strings.Split(name, ".") {
		if err := checkLabel(label); err != nil {
			return "", err
		}
		if strings.HasPrefix(label, "xn--") {
			// An A-label must decode to a valid U-label.
			if _, err := idnaProfile.ToUnicode(label); err != nil {
				return "", errors.New("name has an invalid punycode label")
			}
		}
	}
	return prefix + name, nil
}

func checkLabel(l string) error {
	if l == "" {
		return errors.New("name has an empty label")
	}
	if len(l) > 63 {
		return errors.New("name has a label longer than 63 bytes")
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return errors.New("name has a label starting or ending with a hyphen")
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return errors.New("name has a character outside letters, digits and hyphen")
		}
	}
	return nil
}

// canonicalDomains brings allowed_domains into the form names are compared
// in. Globs keep their "*" (which matches any run of characters, dots
// included, as in Vault) and are lower-cased; other entries must be
// hostnames.
func canonicalDomains(in []string, globs bool) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, d := range in {
		if globs && strings.Contains(d, "*") {
			g := strings.ToLower(d)
			for _, part := range strings.Split(g, "*") {
				for i := 0; i < len(part); i++ {
					c := part[i]
					if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
						return nil, fmt.Errorf("allowed_domains: glob %q has a character outside letters, digits, hyphen, dot and *", d)
					}
				}
			}
			out = append(out, g)
			continue
		}
		c, err := canonicalHost(d, false)
		if err != nil {
			return nil, fmt.Errorf("allowed_domains: %q: %v", d, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// checkHost decides one DNS name (a common name or alt_name). It returns
// the canonical name the certificate will carry, or an error saying why
// the role refuses it. The returned name is always one the policy allows:
// callers put exactly it, never the request's spelling, in the certificate.
func (p namePolicy) checkHost(name string) (string, error) {
	c, host, err := p.checkName(name)
	if err == nil && !host {
		return "", errors.New("name is not a hostname")
	}
	return c, err
}

// checkName is checkHost for a common name, which with allow_any_name and
// enforce_hostnames=false may also be free text: host says whether the
// returned name is a hostname (and may go in a DNS SAN).
func (p namePolicy) checkName(name string) (c string, host bool, err error) {
	c, err = p.checkHostname(name)
	if err != nil && p.AllowAnyName && !p.EnforceHostnames && validFreeName(name) {
		return name, false, nil
	}
	return c, err == nil, err
}

func (p namePolicy) checkHostname(name string) (string, error) {
	wild := strings.HasPrefix(name, "*.")
	if wild && !p.AllowWildcards {
		return "", fmt.Errorf("wildcard names are not allowed by this role")
	}
	c, err := canonicalHost(name, true)
	if err != nil {
		return "", err
	}
	if p.AllowAnyName {
		return c, nil
	}
	if !wild && p.AllowLocalhost && (c == "localhost" || c == "localdomain") {
		return c, nil
	}
	base := strings.TrimPrefix(c, "*.")
	for _, d := range p.AllowedDomains {
		if strings.Contains(d, "*") {
			if !p.AllowGlobDomains {
				continue
			}
			if wild {
				// "*" + rest matching "."+base covers every label the
				// wildcard stands for.
				if strings.HasPrefix(d, "*") && globMatch(d[1:], "."+base) {
					return c, nil
				}
				continue
			}
			if globMatch(d, c) {
				return c, nil
			}
			continue
		}
		if !wild && p.AllowBareDomains && c == d {
			return c, nil
		}
		if p.AllowSubdomains {
			if wild && (base == d || strings.HasSuffix(base, "."+d)) {
				return c, nil
			}
			if !wild && strings.HasSuffix(c, "."+d) {
				return c, nil
			}
		}
	}
	return "", fmt.Errorf("name %q not allowed by this role", c)
}

// validFreeName accepts the free-form common names allow_any_name with
// enforce_hostnames=false permits ("John Smith"): printable UTF-8, no
// control characters, at most 64 bytes (the X.520 limit for a CN).
func validFreeName(s string) bool {
	if s == "" || len(s) > 64 || !utf8.ValidString(s) {
		return false
	}
	return !hasControl(s)
}

// hasControl reports whether s has a C0 or C1 control character or DEL:
// a NUL in a certificate name lets a reader that stops at it see a
// different, shorter name than the one the role checked.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

// checkEmail decides an email-style name: the local part is kept as
// given (ASCII printable, no "@"), the domain goes through checkHost.
func (p namePolicy) checkEmail(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", errors.New("malformed email address")
	}
	local := addr[:at]
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c <= 0x20 || c >= 0x7f || c == '@' || c == '"' || c == '\\' {
			return "", errors.New("email local part has a character that is not allowed")
		}
	}
	if strings.HasPrefix(addr[at+1:], "*") {
		return "", errors.New("wildcard email domains are not allowed")
	}
	d, err := p.checkHost(addr[at+1:])
	if err != nil {
		return "", err
	}
	return local + "@" + d, nil
}

// checkIP decides an IP SAN; it returns the address in canonical form.
func (p namePolicy) checkIP(s string) (netip.Addr, error) {
	if !p.AllowIPSANs {
		return netip.Addr{}, errors.New("IP SANs are not allowed by this role")
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return a.Unmap(), nil
}

// checkURI decides a URI SAN: it must be absolute, in the exact form Go
// serialises it (so what is checked is what is encoded), and match one of
// allowed_uri_sans. spiffe:// URIs must also be valid SPIFFE IDs.
func (p namePolicy) checkURI(s string) (*url.URL, error) {
	if s == "" || !utf8.ValidString(s) {
		return nil, errors.New("empty or malformed URI")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return nil, errors.New("URI has a space, control or non-ASCII character")
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.String() != s {
		return nil, errors.New("URI is not absolute or not in canonical form")
	}
	if strings.EqualFold(u.Scheme, "spiffe") {
		if err := checkSPIFFE(u, s); err != nil {
			return nil, err
		}
	}
	for _, g := range p.AllowedURISANs {
		if globMatch(g, s) {
			return u, nil
		}
	}
	return nil, fmt.Errorf("URI SAN %q not allowed by this role", s)
}

// checkSPIFFE applies the SPIFFE ID rules: scheme "spiffe" in lower case,
// a lower-case trust domain of letters, digits, ".", "-" and "_", no
// port, user, query or fragment, and path segments that are non-empty
// and not "." or "..".
func checkSPIFFE(u *url.URL, raw string) error {
	if u.Scheme != "spiffe" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		strings.Contains(raw, "?") || strings.Contains(raw, "#") {
		return errors.New("invalid SPIFFE ID")
	}
	td := u.Host
	if td == "" || u.Port() != "" || strings.Contains(td, ":") {
		return errors.New("invalid SPIFFE ID trust domain")
	}
	for i := 0; i < len(td); i++ {
		c := td[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return errors.New("invalid SPIFFE ID trust domain")
		}
	}
	if u.RawPath != "" {
		return errors.New("invalid SPIFFE ID path")
	}
	if u.Path == "" {
		return nil
	}
	for _, seg := range strings.Split(strings.TrimPrefix(u.Path, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return errors.New("invalid SPIFFE ID path")
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
				return errors.New("invalid SPIFFE ID path")
			}
		}
	}
	return nil
}

// checkOtherSAN decides one other_sans entry "OID;UTF8:value"; it
// returns the OID and value.
func (p namePolicy) checkOtherSAN(s string) (oid, value string, err error) {
	oid, rest, ok := strings.Cut(s, ";")
	if !ok || !strings.HasPrefix(rest, "UTF8:") && !strings.HasPrefix(rest, "UTF-8:") {
		return "", "", errors.New(`other_sans entries look like "1.2.3.4;UTF8:value"`)
	}
	_, value, _ = strings.Cut(rest, ":")
	if _, err := parseOID(oid); err != nil || !utf8.ValidString(value) || hasControl(value) {
		return "", "", errors.New("other_sans entry has a malformed OID or value")
	}
	for _, a := range p.AllowedOtherSANs {
		if a == "*" {
			return oid, value, nil
		}
		aoid, arest, ok := strings.Cut(a, ";")
		if !ok || aoid != oid {
			continue
		}
		_, aval, _ := strings.Cut(arest, ":")
		if globMatch(aval, value) {
			return oid, value, nil
		}
	}
	return "", "", fmt.Errorf("other SAN with OID %s not allowed by this role", oid)
}

// globMatch reports whether s matches pattern, where "*" matches any run
// of bytes (including none, dots and slashes) and everything else matches
// itself. A pattern without "*" must equal s.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
