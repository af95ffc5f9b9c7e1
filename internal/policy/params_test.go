package policy_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
)

// FuzzDenyCoversDecoders: whatever a backend reads from a value through the
// field decoders (comma list elements, trimmed, case-folded as policy names
// are; the boolean it parses as), a deny on that reading denies the value,
// and an allow list passes a comma list only if it passes every element.
func FuzzDenyCoversDecoders(f *testing.F) {
	for _, s := range []string{"dev,admin", " admin", "ADMIN", "a , b,,c", "1", "TRUE", "t", "F", "0", "x,,", "Ünïcode,é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		data := map[string]any{"k": s}
		var readings []string
		if list, _, err := logical.Strings(data, "k"); err == nil {
			for _, e := range list {
				readings = append(readings, strings.ToLower(e))
			}
		}
		if b, _, err := logical.Bool(data, "k"); err == nil {
			if b {
				readings = append(readings, "true")
			} else {
				readings = append(readings, "false")
			}
		}
		for _, r := range readings {
			if strings.ContainsAny(r, "\"\\\n*") || !isPrintable(r) {
				continue // not writable as an HCL string value
			}
			acl := compileQuiet(t, `path "p" {
  capabilities = ["update"]
  denied_parameters = { "k" = ["`+r+`"] }
}`)
			if acl == nil {
				continue
			}
			if acl.Check("p", policy.OpUpdate, data).Allowed {
				t.Fatalf("deny %q allowed %q, which the backend reads as %q", r, s, r)
			}
		}
		list, _, err := logical.Strings(data, "k")
		if err != nil || len(list) < 2 || strings.ContainsAny(list[0], "\"\\\n*") || !isPrintable(list[0]) {
			return
		}
		acl := compileQuiet(t, `path "p" {
  capabilities = ["update"]
  allowed_parameters = { "k" = ["`+list[0]+`*"] }
}`)
		if acl == nil {
			return
		}
		for _, e := range list[1:] {
			if !strings.HasPrefix(e, list[0]) && acl.Check("p", policy.OpUpdate, data).Allowed {
				t.Fatalf("allow %q* passed %q, whose element %q it does not allow", list[0], s, e)
			}
		}
	})
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return s != ""
}

func compileQuiet(t *testing.T, rules string) *policy.ACL {
	p, err := policy.Parse("p", rules)
	if err != nil {
		return nil
	}
	acl, err := policy.Compile([]*policy.Policy{p}, nil)
	if err != nil {
		return nil
	}
	return acl
}
