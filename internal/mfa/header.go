package mfa

import (
	"errors"
	"strings"
)

// MaxHeaderEntries bounds the credentials one request may carry in
// X-Vault-MFA (over every header value and comma-separated item).
const MaxHeaderEntries = 8

// maxPasscode bounds one passcode; TOTP codes have 6 or 8 digits.
const maxPasscode = 64

// Credential is one X-Vault-MFA entry: a method (its name or id; empty
// when the header carried only a passcode) and the passcode.
type Credential struct {
	Method   string
	Passcode string
}

// errHeader is the one error a malformed header gets: it never quotes the
// header, which holds a passcode.
var errHeader = errors.New("malformed X-Vault-MFA header: expected METHOD:PASSCODE (method name or id), entries separated by commas")

// ParseHeader parses the values of X-Vault-MFA headers. Each value is a
// comma-separated list of METHOD:PASSCODE (METHOD is a method name or id,
// split at the first colon) or a bare PASSCODE, allowed only when it is
// the single entry (it then stands for the one method the request needs).
// Surrounding spaces are trimmed. The error never contains a passcode.
func ParseHeader(values []string) ([]Credential, error) {
	var out []Credential
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if len(out) == MaxHeaderEntries {
				return nil, errHeader
			}
			var c Credential
			if m, p, ok := strings.Cut(item, ":"); ok {
				c.Method, c.Passcode = strings.TrimSpace(m), strings.TrimSpace(p)
				if c.Method == "" || !validMethodRef(c.Method) {
					return nil, errHeader
				}
			} else {
				c.Passcode = item
			}
			if c.Passcode == "" || len(c.Passcode) > maxPasscode || !printable(c.Passcode) {
				return nil, errHeader
			}
			out = append(out, c)
		}
	}
	if len(out) > 1 {
		for _, c := range out {
			if c.Method == "" {
				return nil, errHeader
			}
		}
	}
	return out, nil
}

// validMethodRef reports whether s may be a method name or id.
func validMethodRef(s string) bool {
	if len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
