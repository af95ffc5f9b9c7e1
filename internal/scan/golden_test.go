package scan_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/scan"
	"github.com/keyward/keyward/internal/scan/corpus"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestSARIFGolden pins the SARIF document for a fixed set of findings;
// go test ./internal/scan -update rewrites it.
func TestSARIFGolden(t *testing.T) {
	want := map[string]bool{"aws-access-key-id": true, "database-url-password": true, "generic-password": true, "jwt": true}
	var in strings.Builder
	for _, s := range corpus.Samples(20) {
		if want[s.Rule] {
			in.WriteString(s.Text + "\n")
		}
	}
	s := newScanner(t, scan.Options{})
	res, err := s.ScanReader(context.Background(), "config/app.env", strings.NewReader(in.String()))
	if err != nil {
		t.Fatal(err)
	}
	var rules []*scan.Rule
	for _, r := range scan.BuiltinRules() {
		if want[r.ID] {
			rules = append(rules, r)
		}
	}
	var got bytes.Buffer
	if err := scan.WriteSARIF(&got, res, rules, res.Findings, "test"); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.sarif.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exp, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/scan -update)", err)
	}
	if !bytes.Equal(got.Bytes(), exp) {
		t.Errorf("SARIF differs from %s; rerun with -update and review the diff:\n%s", golden, got.String())
	}
}
