package scan_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/scan"
	"github.com/keyward/keyward/internal/scan/corpus"
)

// goExampleKey returns the private key Go's crypto/tls publishes as test
// data, read from the toolchain running the test.
func goExampleKey(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "src", "crypto", "tls", "testdata", "example-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConfidenceAndTestMaterial plants credentials where users put them
// and where test vectors live, and checks each finding's confidence and
// test-material reason: test material is low (and hidden by default), a
// vendor-prefixed token never is, a private key is only in test material,
// an unlabelled AWS-shaped key is below a labelled one, and a generic
// assignment in a configuration file is above one in code.
func TestConfidenceAndTestMaterial(t *testing.T) {
	sample := map[string]corpus.Sample{}
	for _, s := range corpus.Samples(31) {
		sample[s.Rule] = s
	}
	g := corpus.NewGen(31)
	hexes := func(names ...string) string {
		var b strings.Builder
		b.WriteString("{\n")
		for _, n := range names {
			b.WriteString(`  "` + n + `": "` + g.S(64, "0123456789abcdef") + "\",\n")
		}
		return b.String() + "}\n"
	}
	many := make([]string, 8)
	for i := range many {
		many[i] = "private_key"
	}
	azurite := corpus.AzuriteConnectionString()
	goKey := goExampleKey(t)
	type want struct {
		rule       string
		confidence scan.Confidence
		material   string // a prefix of the reason, "" for none
	}
	cases := []struct {
		path, text string
		want       []want
	}{
		{"src/app/config.go", sample["generic-password"].Text, []want{{"generic-password", scan.ConfidenceMedium, ""}}},
		{"deploy/.env", sample["generic-password"].Text, []want{{"generic-password", scan.ConfidenceHigh, ""}}},
		{"src/app/session.go", sample["jwt"].Text, []want{{"jwt", scan.ConfidenceMedium, ""}}},
		{"src/app/server.go", sample["private-key"].Text, []want{{"private-key", scan.ConfidenceHigh, ""}}},
		{"src/app/server_test.go", sample["private-key"].Text, []want{{"private-key", scan.ConfidenceLow, "test source file"}}},
		{"src/app/test/helpers.rb", sample["generic-password"].Text, []want{{"generic-password", scan.ConfidenceLow, "test source file"}}},
		{"web/src/login.spec.ts", sample["generic-password"].Text, []want{{"generic-password", scan.ConfidenceLow, "test source file"}}},
		{"internal/tls/testdata/key.pem", sample["private-key"].Text, []want{{"private-key", scan.ConfidenceLow, "test fixture directory"}}},
		{"internal/tls/testdata/token.txt", sample["github-pat"].Text, []want{{"github-pat", scan.ConfidenceHigh, ""}}},
		{"src/app/app_test.go", sample["stripe-secret-key"].Text, []want{{"stripe-secret-key", scan.ConfidenceHigh, ""}}},
		{"vectors/wycheproof_x25519.json", hexes("private_key", "shared_secret"), []want{
			{"generic-secret", scan.ConfidenceLow, "test-vector file"}, {"generic-secret", scan.ConfidenceLow, "test-vector file"}}},
		{"pkg/kex/kat.go", hexes(many...), []want{
			{"generic-secret", scan.ConfidenceLow, "file of hex test vectors"}, {"generic-secret", scan.ConfidenceLow, "file of hex test vectors"},
			{"generic-secret", scan.ConfidenceLow, "file of hex test vectors"}, {"generic-secret", scan.ConfidenceLow, "file of hex test vectors"},
			{"generic-secret", scan.ConfidenceLow, "file of hex test vectors"}, {"generic-secret", scan.ConfidenceLow, "file of hex test vectors"},
			{"generic-secret", scan.ConfidenceLow, "file of hex test vectors"}, {"generic-secret", scan.ConfidenceLow, "file of hex test vectors"}}},
		{"pkg/kex/one.go", hexes("private_key"), []want{{"generic-secret", scan.ConfidenceMedium, ""}}},
		{"config/storage.yaml", "connection: " + azurite + "\n", []want{{"azure-storage-account-key", scan.ConfidenceLow, "well-known test key (Azurite"}}},
		{"deploy/server.key", goKey, []want{{"private-key", scan.ConfidenceLow, "well-known test key (Go crypto/tls"}}},
		{"web/src/assets/i18n/de_DE.json", sample["generic-password"].Text, []want{{"generic-password", scan.ConfidenceLow, ""}}},
		{"conf/app.properties", sample["aws-secret-access-key-unlabelled"].Text, []want{{"aws-secret-access-key-unlabelled", scan.ConfidenceMedium, ""}}},
		{"conf/aws.py", sample["aws-secret-access-key"].Text, []want{{"aws-secret-access-key", scan.ConfidenceHigh, ""}}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		p := filepath.Join(dir, filepath.FromSlash(c.path))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c.text+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// the scanned root's own path must not matter: it is a test's temp dir
	res, err := newScanner(t, scan.Options{}).ScanPaths(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string][]scan.Finding{}
	for _, f := range res.Findings {
		p := strings.TrimPrefix(f.Path, filepath.ToSlash(dir)+"/")
		byPath[p] = append(byPath[p], f)
	}
	hidden := 0
	for _, c := range cases {
		got := byPath[c.path]
		if len(got) != len(c.want) {
			t.Errorf("%s: %d findings, want %d", c.path, len(got), len(c.want))
			continue
		}
		for i, w := range c.want {
			f := got[i]
			if f.RuleID != w.rule || f.Confidence != w.confidence || !strings.HasPrefix(f.TestMaterial, w.material) || (w.material == "") != (f.TestMaterial == "") {
				t.Errorf("%s: %s confidence %s material %q, want %s %s %q", c.path, f.RuleID, f.Confidence, f.TestMaterial, w.rule, w.confidence, w.material)
			}
			if w.confidence == scan.ConfidenceLow {
				hidden++
			}
		}
	}
	shown, h := scan.Visible(res.Findings, scan.ConfidenceMedium)
	if h.Total != hidden || h.TestMaterial != hidden-1 || len(shown) != len(res.Findings)-hidden {
		t.Errorf("Visible(medium) hid %+v and showed %d, want %d hidden, all but the translation as test material", h, len(shown), hidden)
	}
	for _, f := range shown {
		if f.Confidence < scan.ConfidenceMedium {
			t.Errorf("%s shown at %s", f.Path, f.Confidence)
		}
	}
	if all, h := scan.Visible(res.Findings, scan.ConfidenceLow); len(all) != len(res.Findings) || h.Total != 0 {
		t.Errorf("Visible(low) = %d findings, %+v hidden", len(all), h)
	}
	if top, h := scan.Visible(res.Findings, scan.ConfidenceHigh); h.Total <= hidden || len(top)+h.Total != len(res.Findings) {
		t.Errorf("Visible(high) = %d shown, %+v hidden", len(top), h)
	}
}

// TestTestMaterialSurvivesArchives checks that the reason comes from the
// member's path inside an archive, and from the path relative to the
// scanned root, not from directories above it.
func TestTestMaterialSurvivesArchives(t *testing.T) {
	var key corpus.Sample
	for _, s := range corpus.Samples(32) {
		if s.Rule == "private-key" {
			key = s
		}
	}
	z, err := corpus.ZipOf(map[string][]byte{"certs/testdata/server.key": []byte(key.Text + "\n"), "certs/prod.key": []byte(key.Text + "\n")})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "tests", "checkout")
	os.MkdirAll(root, 0o755)
	os.WriteFile(filepath.Join(root, "bundle.zip"), z, 0o644)
	res, err := newScanner(t, scan.Options{}).ScanPaths(context.Background(), []string{root})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range res.Findings {
		got[f.Path[strings.LastIndexByte(f.Path, '!')+1:]] = f.Confidence.String() + " " + f.TestMaterial
	}
	if got["certs/testdata/server.key"] != "low test fixture directory" || got["certs/prod.key"] != "high " {
		t.Errorf("archive members: %q", got)
	}
}
