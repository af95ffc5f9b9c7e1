package scan_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/scan"
	"github.com/keyward/keyward/internal/scan/corpus"
)

// FuzzRules runs every built-in rule, with its validators, entropy and
// placeholder filters, over arbitrary input. Properties: no panic; every
// reported secret occurs in the input (or in a base64 blob's decoding);
// lines and columns are positive; the redaction never shows the secret.
func FuzzRules(f *testing.F) {
	for _, s := range corpus.Samples(1) {
		f.Add([]byte("x = 1\n" + s.Text + "\n"))
	}
	for _, l := range corpus.NearMisses(1) {
		f.Add([]byte(l))
	}
	f.Add([]byte("password = \\\"Tr0ub4dor&3!x#Qz\\\"\n"))
	for _, sy := range corpus.Syntaxes(1) {
		for _, smp := range sy.Samples {
			f.Add([]byte(smp.Text + "\n"))
		}
		f.Add([]byte(strings.Join(sy.NearMisses, "\n")))
	}
	s := newScanner(f, scan.Options{})
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := s.ScanReader(context.Background(), "fuzz", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range res.Findings {
			sec := fd.Secret.Reveal()
			if fd.Line < 1 || fd.Column < 1 {
				t.Fatalf("%s at %d:%d", fd.RuleID, fd.Line, fd.Column)
			}
			if fd.Encoding == "" && !bytes.Contains(data, []byte(sec)) {
				t.Fatalf("%s reported a secret not in the input", fd.RuleID)
			}
			if len(sec) >= 8 && strings.Contains(fd.Redacted, sec) {
				t.Fatalf("%s: redaction shows the secret", fd.RuleID)
			}
		}
	})
}

// FuzzArchive feeds arbitrary bytes, seeded with zip, tar, tar.gz and
// nested archives, to the archive readers with small limits: no panic, and
// the bytes read stay within the budget.
func FuzzArchive(f *testing.F) {
	ss := corpus.Samples(2)
	z, _ := corpus.ZipOf(map[string][]byte{"a.env": []byte(ss[0].Text), "../../evil": []byte(ss[1].Text)})
	tg, _ := corpus.TarGzOf(map[string][]byte{"x/inner.zip": z, "y.txt": []byte(ss[2].Text)})
	tr, _ := corpus.TarOf(map[string][]byte{"t.tgz": tg})
	nested, _ := corpus.ZipOf(map[string][]byte{"n.zip": z, "t.tar": tr})
	for _, seed := range [][]byte{z, tg, tr, nested, corpus.Gzip([]byte(ss[3].Text)), {0x1f, 0x8b}, []byte("PK\x03\x04")} {
		f.Add(seed)
	}
	s := newScanner(f, scan.Options{MaxDepth: 3, MaxArchiveBytes: 1 << 20, MaxEntryBytes: 256 << 10})
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := s.ScanReader(context.Background(), "fuzz", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if res.Bytes > 4<<20 {
			t.Fatalf("scanned %d bytes with a 1 MiB archive budget", res.Bytes)
		}
		for _, fd := range res.Findings {
			if strings.Contains(fd.Path, "..") || strings.ContainsAny(fd.Path, "\x00\n\x1b") {
				t.Fatalf("unsafe member path %q", fd.Path)
			}
		}
	})
}

// FuzzImage writes arbitrary bytes as an image tarball, seeded with a
// valid docker save image: no panic, errors instead.
func FuzzImage(f *testing.F) {
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.tar")
	if _, _, err := corpus.WriteDockerSave(p, 1); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	f.Add(b)
	man, _ := corpus.TarOf(map[string][]byte{"manifest.json": []byte(`[{"Config":"../../etc/passwd","Layers":["/dev/zero"]}]`)})
	f.Add(man)
	idx, _ := corpus.TarOf(map[string][]byte{"index.json": []byte(`{"manifests":[{"digest":"sha256:../../x"}]}`)})
	f.Add(idx)
	s := newScanner(f, scan.Options{MaxArchiveBytes: 1 << 20})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "img.tar")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = s.ScanImage(context.Background(), p)
	})
}

// FuzzConfig parses arbitrary rules files: no panic, and a config that
// builds yields an engine.
func FuzzConfig(f *testing.F) {
	f.Add([]byte("disable = [\"jwt\"]\n[[rules]]\nid = \"x\"\nregex = 'x_[a-z]{8}'\n[allow]\npaths = [\"a/**\"]\n"), false)
	f.Add([]byte("rules:\n- id: y\n  regex: 'y_[0-9]+'\n  keywords: [y_]\nallow:\n  regexes: ['^x']\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, yaml bool) {
		format := "toml"
		if yaml {
			format = "yaml"
		}
		c, err := scan.ParseConfig(data, format)
		if err != nil {
			return
		}
		rules, allow, err := c.Build()
		if err != nil {
			return
		}
		if _, err := scan.NewEngine(rules, allow); err != nil {
			t.Fatalf("built config does not compile: %v", err)
		}
	})
}

// FuzzBaseline reads arbitrary baseline files: no panic; a baseline that
// parses filters without panicking.
func FuzzBaseline(f *testing.F) {
	f.Add([]byte(`{"version":1,"findings":[{"fingerprint":"ab","rule_id":"r","path":"p"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := scan.ReadBaseline(bytes.NewReader(data))
		if err != nil {
			return
		}
		b.Filter([]scan.Finding{{Fingerprint: "ab"}})
	})
}

// FuzzBase64Blobs plants a sample inside a base64 blob inside random text.
func FuzzBase64Blobs(f *testing.F) {
	f.Add([]byte("prefix "), uint8(3))
	ss := corpus.Samples(3)
	s := newScanner(f, scan.Options{})
	f.Fuzz(func(t *testing.T, pre []byte, which uint8) {
		smp := ss[int(which)%len(ss)]
		if strings.Contains(smp.Text, "\n") || smp.Rule == "generic-secret" || smp.Rule == "aws-secret-access-key-unlabelled" {
			return
		}
		blob := base64.StdEncoding.EncodeToString([]byte(smp.Text + "\n"))
		// the surrounding text must not extend the blob: keep only bytes
		// outside the base64 alphabet
		clean := bytes.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || r == '+' || r == '/' || r == '=' || r == '-' || r == '_' || r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return ' '
			}
			return r
		}, pre)
		in := append(append(clean, ' '), blob...)
		res, err := s.ScanReader(context.Background(), "f", bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if findingFor(res.Findings, smp.Rule, smp.Secret) == nil && !bytes.Contains(clean, []byte("keyward:allow")) {
			t.Fatalf("%s in a base64 blob not found", smp.Rule)
		}
	})
}
