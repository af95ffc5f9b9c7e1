package scan

import (
	"fmt"
	"strings"
)

// Confidence says how likely a finding is a live credential, from its
// rule, its context and its file. Reports hide findings below a threshold
// (the CLI's --min-confidence, medium by default) and count what they hid.
type Confidence int

// Confidences, lowest first. The zero value is not a confidence: a rule
// that sets none gets high.
const (
	ConfidenceLow Confidence = iota + 1
	ConfidenceMedium
	ConfidenceHigh
)

var confidenceNames = []string{"", "low", "medium", "high"}

func (c Confidence) String() string {
	if c < ConfidenceLow || c > ConfidenceHigh {
		return fmt.Sprintf("confidence(%d)", int(c))
	}
	return confidenceNames[c]
}

// ParseConfidence parses a confidence name (case-insensitive).
func ParseConfidence(name string) (Confidence, error) {
	for i, n := range confidenceNames[1:] {
		if strings.EqualFold(name, n) {
			return Confidence(i + 1), nil
		}
	}
	return 0, fmt.Errorf("unknown confidence %q (want one of low, medium, high)", name)
}

// MarshalText implements encoding.TextMarshaler.
func (c Confidence) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Confidence) UnmarshalText(b []byte) error {
	v, err := ParseConfidence(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// assess sets the confidence of an input's findings, and the test
// material they are in. p is the input's path (relative to the scanned
// root where there is one), config whether it is a configuration file.
//
//   - A rule gives the base: high for rules that know the credential's
//     format (a vendor prefix, a checksum, a key block, a vendor's name
//     next to its key's shape), medium for generic assignments, URLs with
//     credentials, JWTs and Authorization headers, and AWS-shaped keys
//     under a generic name.
//   - The file raises a generic password or secret in a configuration file
//     to high, and lowers one in a translation file (i18n/, locales/, .po)
//     to low: there a password is a field's label.
//   - Test material lowers any finding to low, which reports hide by
//     default: a well-known published test key (knownTestKeys), a
//     test-vector data file (Wycheproof, NIST CAVP/ACVP, KAT, HPKE vector
//     sets), a fixture directory (testdata/, fixtures/), a test source file
//     (foo_test.go, test_foo.py, foo.spec.ts, FooTest.java, test/), or a
//     file holding eight or more hex key-material values (test vectors
//     wherever they are kept).
//   - A token with a vendor's prefix is never lowered, wherever it is: a
//     checksummed ghp_ token in testdata/ is as live as one in main.go. A
//     private key is lowered only by test material.
func (e *Engine) assess(fs []Finding, p string, config bool) {
	where := ""
	hexes := 0
	for i := range fs {
		if r := e.byID[fs[i].RuleID]; r != nil && !r.prefixed && hexValue(fs[i].Secret.Reveal()) {
			hexes++
		}
	}
	for i := range fs {
		f := &fs[i]
		r := e.byID[f.RuleID]
		if r == nil {
			continue
		}
		f.Confidence = r.BaseConfidence()
		if r.prefixed {
			continue
		}
		generic := r.ID == "generic-password" || r.ID == "generic-secret"
		if config && generic {
			f.Confidence = ConfidenceHigh
		}
		if generic && translationFile(p) {
			f.Confidence, f.TestMaterial = ConfidenceLow, ""
			continue // a field's label, not a credential
		}
		reason := ""
		if src, ok := knownTestKeys[keyFingerprint(f.Secret.Reveal())]; ok {
			reason = reasonKnownKey + " (" + src + ")"
		} else {
			if where == "" {
				where = pathMaterial(p)
				if where == "" {
					where = "-"
				}
			}
			switch {
			case where != "-":
				reason = where
			case hexes >= 8:
				reason = reasonHexVectors
			}
		}
		if reason != "" {
			f.Confidence, f.TestMaterial = ConfidenceLow, reason
		}
	}
}

// Hidden counts findings a report leaves out.
type Hidden struct {
	// Total is every finding below the confidence threshold.
	Total int `json:"total"`
	// TestMaterial is those of them found in test material.
	TestMaterial int `json:"test_material"`
}

// Visible returns the findings at or above min, in order, and counts the
// rest.
func Visible(fs []Finding, min Confidence) ([]Finding, Hidden) {
	var h Hidden
	out := make([]Finding, 0, len(fs))
	for _, f := range fs {
		if f.Confidence >= min || f.Confidence == 0 {
			out = append(out, f)
			continue
		}
		h.Total++
		if f.TestMaterial != "" {
			h.TestMaterial++
		}
	}
	return out, h
}
