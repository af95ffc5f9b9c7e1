package policy

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Format parses policy text (HCL or JSON) and returns it in canonical HCL:
// one path block per source block in source order, capabilities sorted,
// parameter names sorted, two-space indent, durations in Go notation.
// Comments and the deprecated `policy = "..."` form are not preserved (the
// latter becomes an equivalent capabilities list). Parse of the output
// yields a policy equal to Parse of the input, and Format is idempotent.
func Format(text string) (string, error) {
	p, err := parseText(text)
	if err != nil {
		return "", err
	}
	return p.Format(), nil
}

// Format returns p in canonical HCL (see the package-level Format).
func (p *Policy) Format() string {
	var b strings.Builder
	for i, r := range p.Rules {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("path ")
		b.WriteString(hclQuote(r.Path))
		b.WriteString(" {\n  capabilities = ")
		writeList(&b, r.Capabilities.Strings())
		b.WriteByte('\n')
		writeParams(&b, "allowed_parameters", r.AllowedParameters)
		writeParams(&b, "denied_parameters", r.DeniedParameters)
		if len(r.RequiredParameters) > 0 {
			b.WriteString("  required_parameters = ")
			writeList(&b, r.RequiredParameters)
			b.WriteByte('\n')
		}
		writeTTL(&b, "min_wrapping_ttl", r.MinWrappingTTL)
		writeTTL(&b, "max_wrapping_ttl", r.MaxWrappingTTL)
		formatConditions(&b, r.Conditions)
		if len(r.MFAMethods) > 0 {
			b.WriteString("  mfa_methods = ")
			writeList(&b, r.MFAMethods)
			b.WriteByte('\n')
		}
		formatControlGroup(&b, r.ControlGroup)
		b.WriteString("}\n")
	}
	return b.String()
}

func writeParams(b *strings.Builder, key string, params map[string][]string) {
	if len(params) == 0 {
		return
	}
	b.WriteString("  " + key + " = {\n")
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		b.WriteString("    ")
		b.WriteString(hclQuote(k))
		b.WriteString(" = ")
		writeList(b, params[k])
		b.WriteByte('\n')
	}
	b.WriteString("  }\n")
}

func writeTTL(b *strings.Builder, key string, d time.Duration) {
	if d == 0 {
		return
	}
	b.WriteString("  " + key + " = ")
	b.WriteString(hclQuote(d.String()))
	b.WriteByte('\n')
}

func writeList(b *strings.Builder, items []string) {
	b.WriteByte('[')
	for i, s := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(hclQuote(s))
	}
	b.WriteByte(']')
}

// hclQuote quotes s as an HCL string. Parse has already rejected control
// characters and interpolation sequences, so only quotes and backslashes
// need escaping.
func hclQuote(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return `"` + s + `"`
	}
	return strconv.Quote(s)
}
