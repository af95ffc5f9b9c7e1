package filecrypt

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseEnvelope: whatever parses renders back to the same text, and an
// envelope other than the one a value was sealed into never opens.
func FuzzParseEnvelope(f *testing.F) {
	fk, err := newFileKey(testDataKey)
	if err != nil {
		f.Fatal(err)
	}
	p := Path{"db", "password"}
	good := fk.encrypt(p, TypeStr, []byte("s3cr3t")).String()
	f.Add(good)
	f.Add("ENC[KW1,data:,iv:AAAAAAAAAAAAAAAA,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:int]")
	f.Add("ENC[KW1,data:x,iv:,tag:,type:str]")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEnvelope(s)
		if err != nil {
			return
		}
		if e.String() != s {
			t.Fatalf("ParseEnvelope(%q).String() = %q", s, e.String())
		}
		pt, err := fk.decrypt(p, e)
		if s != good && err == nil {
			t.Fatalf("a different envelope %q decrypted to %q", s, pt)
		}
	})
}

func seedDir(f *testing.F, names ...string) {
	for _, n := range names {
		for _, dir := range []string{"testdata", "testdata/golden"} {
			if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
				f.Add(b)
			}
		}
	}
}

// fuzzFormat: a document that parses marshals to a document that parses to
// the same values, and marshals to the same bytes again.
func fuzzFormat(f *testing.F, format Format, seeds ...string) {
	seedDir(f, seeds...)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parse(format, data)
		if err != nil {
			return
		}
		out, err := d.marshal()
		if err != nil {
			return // e.g. yaml.v3 refusing to emit what it parsed
		}
		d2, err := parse(format, out)
		if err != nil {
			t.Fatalf("re-parse of marshalled %q: %v\n%s", data, err, out)
		}
		a, b := d.leaves(), d2.leaves()
		if len(a) != len(b) {
			t.Fatalf("%d values became %d after a round trip of %q", len(a), len(b), data)
		}
		for i := range a {
			if a[i].path.String() != b[i].path.String() || a[i].value != b[i].value || a[i].typ != b[i].typ {
				t.Fatalf("value %d changed in a round trip of %q: %v -> %v", i, data, a[i], b[i])
			}
		}
		out2, err := d2.marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("marshal is not stable for %q: %q then %q (%v)", data, out, out2, err)
		}
	})
}

func FuzzParseYAML(f *testing.F)   { fuzzFormat(f, YAML, "app.yaml", "secret.yaml") }
func FuzzParseJSON(f *testing.F)   { fuzzFormat(f, JSON, "app.json") }
func FuzzParseDotenv(f *testing.F) { fuzzFormat(f, Dotenv, "app.env") }
func FuzzParseINI(f *testing.F)    { fuzzFormat(f, INI, "app.ini") }

// FuzzDecryptNeverAcceptsDamage: a mutated encrypted file either fails to
// decrypt or decrypts to exactly the original values.
func FuzzDecryptNeverAcceptsDamage(f *testing.F) {
	for _, n := range goldenFiles {
		b, err := os.ReadFile(filepath.Join("testdata", "golden", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(n, b)
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		want, err := os.ReadFile(filepath.Join("testdata", filepath.Base(name)))
		if err != nil || filepath.Base(name) != name {
			return
		}
		o := testOptions(t)
		got, err := Values(t.Context(), name, data, o)
		if err != nil {
			return
		}
		d, err := parse(FormatFor(name), want)
		if err != nil {
			t.Fatal(err)
		}
		wl := d.leaves()
		if len(got) != len(wl) {
			t.Fatalf("damaged %s decrypted to %d values, want %d", name, len(got), len(wl))
		}
		for i := range got {
			if got[i].Path.String() != wl[i].path.String() || got[i].Value != wl[i].value || got[i].Type != wl[i].typ {
				t.Fatalf("damaged %s decrypted value %s differently", name, got[i].Path.Display())
			}
		}
	})
}

// FuzzValueRoundTrip: any string value set in a document of each format
// comes back unchanged after marshalling and parsing, as decryption needs.
func FuzzValueRoundTrip(f *testing.F) {
	f.Add("s3cr3t", uint8(0))
	f.Add("line one\nline two\n", uint8(0))
	f.Add("\n leading", uint8(1))
	f.Add("trailing \nspace ", uint8(0))
	f.Add(`quote " and \ backslash`, uint8(1))
	f.Fuzz(func(t *testing.T, value string, which uint8) {
		formats := []Format{YAML, JSON, Dotenv, INI}
		format := formats[int(which)%len(formats)]
		seed := map[Format]string{YAML: "a: x\n", JSON: `{"a": "x"}`, Dotenv: "a=x\n", INI: "a = x\n"}[format]
		d, err := parse(format, []byte(seed))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.set(Path{"a"}, value, TypeStr); err != nil {
			return // INI refuses line breaks and surrounding spaces
		}
		out, err := d.marshal()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := parse(format, out)
		if err != nil {
			t.Fatalf("%s: value %q made the file unparseable: %v\n%s", format, value, err, out)
		}
		l := d2.leaves()
		if len(l) != 1 || l[0].value != value {
			t.Fatalf("%s: value %q came back as %v\n%s", format, value, l, out)
		}
	})
}

// FuzzMerge: for any two dotenv or YAML versions of a file, a merge where
// one side is unchanged gives the other side's values, with no conflict.
func FuzzMerge(f *testing.F) {
	f.Add("A=1\nB=2\n", "A=1\nB=3\nC=4\n", false)
	f.Add("a: 1\nb: {c: x}\n", "a: 2\nb: {d: y}\n", true)
	f.Fuzz(func(t *testing.T, base, other string, yamlFile bool) {
		name := "f.env"
		if yamlFile {
			name = "f.yaml"
		}
		if _, err := parse(FormatFor(name), []byte(base)); err != nil {
			return
		}
		if _, err := parse(FormatFor(name), []byte(other)); err != nil {
			return
		}
		ctx, o := t.Context(), testOptions(t)
		b, err := Encrypt(ctx, name, []byte(base), ageSettings(testRecipient), o)
		if err != nil {
			return // e.g. a value that cannot be encrypted in place
		}
		x, err := Reencrypt(ctx, name, []byte(other), b, o)
		if err != nil {
			return
		}
		want, err := Values(ctx, name, x, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, sides := range [][2][]byte{{b, x}, {x, b}} {
			m, conflicts, err := Merge(ctx, name, b, sides[0], sides[1], o)
			if err != nil || len(conflicts) > 0 {
				t.Fatalf("Merge(%q -> %q) = %v, %v", base, other, conflicts, err)
			}
			got, err := Values(ctx, name, m, o)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("Merge(%q -> %q): %d values, want %d", base, other, len(got), len(want))
			}
			for i := range got {
				if got[i].Path.String() != want[i].Path.String() || got[i].Value != want[i].Value || got[i].Type != want[i].Type {
					t.Fatalf("Merge(%q -> %q): value %d = %v, want %v", base, other, i, got[i], want[i])
				}
			}
		}
	})
}
