package secretref_test

import (
	"os"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/secretref"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		name, in string
		want     secretref.Ref
		err      string
	}{
		{name: "path only", in: "secret/data/prod/db", want: secretref.Ref{Path: "secret/data/prod/db"}},
		{name: "field", in: "secret/prod/db#password", want: secretref.Ref{Path: "secret/prod/db", Field: "password"}},
		{name: "version", in: "secret/prod/db#password@3", want: secretref.Ref{Path: "secret/prod/db", Field: "password", Version: 3}},
		{name: "whole at version", in: "secret/prod/db#@2", want: secretref.Ref{Path: "secret/prod/db", Version: 2}},
		{name: "at in field", in: "secret/x#user@host", want: secretref.Ref{Path: "secret/x", Field: "user@host"}},
		{name: "at in field and version", in: "secret/x#a@b@7", want: secretref.Ref{Path: "secret/x", Field: "a@b", Version: 7}},
		{name: "slashes trimmed", in: "/secret/x/#f", want: secretref.Ref{Path: "secret/x", Field: "f"}},
		{name: "lease path", in: "database/creds/ro#username", want: secretref.Ref{Path: "database/creds/ro", Field: "username"}},
		{name: "empty", in: "", err: "empty path"},
		{name: "empty path", in: "#f", err: "empty path"},
		{name: "dotdot", in: "secret/../sys/x#f", err: "invalid path"},
		{name: "double slash", in: "secret//x", err: "invalid path"},
		{name: "query", in: "secret/x?version=2#f", err: "invalid path"},
		{name: "two hashes", in: "secret/x#a#b", err: "more than one"},
		{name: "version zero", in: "secret/x#f@0", err: "invalid version"},
		{name: "huge version", in: "secret/x#f@99999999999999999999", err: "invalid version"},
		{name: "newline field", in: "secret/x#a\nb", err: "invalid field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secretref.ParseRef(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseRef(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRef(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			again, err := secretref.ParseRef(got.String())
			if err != nil || again != got {
				t.Fatalf("ParseRef(%q.String() = %q) = %+v, %v", tt.in, got.String(), again, err)
			}
		})
	}
}

func TestParseFileEnvTemplate(t *testing.T) {
	tests := []struct {
		name string
		run  func() (string, error)
		want string // %+v of the result, or the error substring
	}{
		{"file mode", func() (string, error) {
			f, err := secretref.ParseFile("tls.pem=secret/tls#cert:0400")
			return f.Name + " " + f.Ref.String() + " " + f.Mode.String(), err
		}, "tls.pem secret/tls#cert -r--------"},
		{"file short mode", func() (string, error) {
			f, err := secretref.ParseFile("k=secret/tls#key:440")
			return f.Mode.String(), err
		}, "-r--r-----"},
		{"file no mode", func() (string, error) {
			f, err := secretref.ParseFile("k=secret/tls#a:b")
			return f.Ref.Field + " " + f.Mode.String(), err
		}, "a:b ----------"},
		{"file unreadable mode", func() (string, error) { _, err := secretref.ParseFile("k=secret/tls#key:0200"); return "", err }, "not readable by the owner"},
		{"file path name", func() (string, error) { _, err := secretref.ParseFile("../k=secret/tls#key"); return "", err }, "single file name"},
		{"file no ref", func() (string, error) { _, err := secretref.ParseFile("k"); return "", err }, "want NAME="},
		{"env", func() (string, error) {
			e, err := secretref.ParseEnv("DB_PASSWORD=secret/db#password@2")
			return e.Name + " " + e.Ref.String(), err
		}, "DB_PASSWORD secret/db#password@2"},
		{"env bad name", func() (string, error) { _, err := secretref.ParseEnv("1X=secret/db#p"); return "", err }, "invalid variable name"},
		{"env-from field", func() (string, error) { _, err := secretref.ParseEnvFrom("secret/db#p", ""); return "", err }, "not a field"},
		{"env-from prefix", func() (string, error) { _, err := secretref.ParseEnvFrom("secret/db", "A-"); return "", err }, "invalid prefix"},
		{"template", func() (string, error) {
			tm, err := secretref.ParseTemplate("c:/in.tmpl:out.conf")
			return tm.Source + " " + tm.Dest, err
		}, "c:/in.tmpl out.conf"},
		{"template dir out", func() (string, error) { _, err := secretref.ParseTemplate("in:sub/out"); return "", err }, "single file name"},
		{"env name", func() (string, error) { return secretref.EnvName("api-key.v2"), nil }, "API_KEY_V2"},
		{"env name digit", func() (string, error) { return secretref.EnvName("2fa"), nil }, "_2FA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.run()
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParseRef checks that a parsed reference round-trips through String
// and that the parsers never panic.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"secret/data/prod/db#password@3", "secret/x#@2", "a#b@c@4", "x#", "/#/", "k=secret/x#y:0400", "in:out"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		secretref.ParseFile(s)
		secretref.ParseEnv(s)
		secretref.ParseTemplate(s)
		r, err := secretref.ParseRef(s)
		if err != nil {
			return
		}
		again, err := secretref.ParseRef(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRef(%q) = %+v; String %q parses to %+v, %v", s, r, r.String(), again, err)
		}
	})
}

func TestParseConfig(t *testing.T) {
	good := `
env:
  DB_PASSWORD: secret/data/prod/db#password
  B: secret/prod/db#user@2
env_from:
  - secret/prod/app
  - {path: secret/prod/other, prefix: OTHER_}
files:
  tls.pem: secret/prod/tls#cert:0400
  key.pem: {ref: "secret/prod/tls#key", mode: "0440"}
templates:
  - app.tmpl:app.conf
  - {source: b.tmpl, dest: b.conf, mode: "0400"}
`
	p, err := secretref.ParseConfig([]byte(good))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if len(p.Env) != 2 || p.Env[0].Name != "B" || p.Env[1].Ref.Field != "password" {
		t.Errorf("env = %+v", p.Env)
	}
	if len(p.EnvFrom) != 2 || p.EnvFrom[1].Prefix != "OTHER_" {
		t.Errorf("env_from = %+v", p.EnvFrom)
	}
	if len(p.Files) != 2 || p.Files[0].Name != "key.pem" || p.Files[0].Mode != 0o440 || p.Files[1].Mode != 0o400 {
		t.Errorf("files = %+v", p.Files)
	}
	if len(p.Templates) != 2 || p.Templates[1].Mode != 0o400 || p.Templates[0].Dest != "app.conf" {
		t.Errorf("templates = %+v", p.Templates)
	}

	bad := []struct{ name, in, err string }{
		{"unknown key", "envs: {}", "field envs not found"},
		{"unknown nested key", "files: {a: {ref: 'x#y', mod: '0400'}}", "field mod not found"},
		{"bad env", "env: {A: '#x'}", "empty path"},
		{"bad mode", "files: {a: {ref: 'x#y', mode: '999'}}", "invalid mode"},
		{"duplicate file", "files: {a: 'x#y'}\ntemplates: ['t:a']", "file a is given twice"},
		{"every error", "env: {A: '#x', B: '#y'}", "env B"},
		{"not a mapping", "- a", "cannot unmarshal"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := secretref.ParseConfig([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("ParseConfig(%q) error = %v, want %q", tt.in, err, tt.err)
			}
		})
	}
	if p, err := secretref.ParseConfig(nil); err != nil || !p.Empty() {
		t.Errorf("ParseConfig(empty) = %+v, %v", p, err)
	}
}

func TestLoadConfigTemplateRelative(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/keyward.yaml"
	if err := os.WriteFile(path, []byte("templates: ['t/a.tmpl:a']\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := secretref.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := dir + "/t/a.tmpl"; p.Templates[0].Source != want {
		t.Errorf("source = %q, want %q", p.Templates[0].Source, want)
	}
}

// FuzzParseConfig checks that ParseConfig never panics and that what it
// accepts validates.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("env:\n  A: secret/x#y\nfiles:\n  f: secret/x#y:0400\n"))
	f.Add([]byte("env_from: [secret/a, {path: secret/b, prefix: B_}]\ntemplates: [a:b]\n"))
	f.Add([]byte("files: {a: {ref: 'x#y', mode: '0440'}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := secretref.ParseConfig(data)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
	})
}
