package scan_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/scan"
)

func TestSmoke(t *testing.T) {
	rules := scan.BuiltinRules()
	t.Logf("rules: %d", len(rules))
	e, err := scan.NewEngine(rules, scan.Allowlist{})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := scan.New(scan.Options{Engine: e})
	in := "x\naws_secret_access_key = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzzKEYabc\"\nid = AKIA" + "Q3EGZ7K2LMNPQRST\npassword = \"Tr0ub4dor&3!x#Qz\"\nurl = postgres://app:S3cr%t!pa55@db.internal:5432/prod\n"
	res, err := s.ScanReader(context.Background(), "stdin", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		t.Logf("%s %d:%d %s", f.RuleID, f.Line, f.Column, f.Redacted)
	}
}
