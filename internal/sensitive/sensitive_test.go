package sensitive_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/keyward/keyward/internal/sensitive"
)

// canary is a fresh random secret and the encodings of it a leak could take.
type canary struct {
	plain string
	forms []string
}

func newCanary(t *testing.T) canary {
	t.Helper()
	v := "kw-canary-" + rand.Text()
	return canary{plain: v, forms: []string{
		v, hex.EncodeToString([]byte(v)), strings.ToUpper(hex.EncodeToString([]byte(v))),
		fmt.Sprint([]byte(v)), // %d of the bytes
		v[len("kw-canary-"):], // the random part alone
	}}
}

// leak fails t if out holds the secret in any of its forms.
func (c canary) leak(t *testing.T, what, out string) {
	t.Helper()
	for _, f := range c.forms {
		if strings.Contains(out, f) {
			t.Errorf("%s leaked the secret (as %q): %s", what, f, out)
		}
	}
}

// check is leak, and fails t unless out shows the placeholder too.
func (c canary) check(t *testing.T, what, out string) {
	t.Helper()
	c.leak(t, what, out)
	if !strings.Contains(out, "[redacted]") && !strings.Contains(out, "<nil>") {
		t.Errorf("%s = %q, want the placeholder", what, out)
	}
}

// holders returns the ways a secret is held: bare, by pointer, in exported
// and unexported struct fields, in a slice and a map, for String and Bytes.
func holders(c canary) map[string]any {
	s := sensitive.NewString(c.plain)
	b := sensitive.NewBytes([]byte(c.plain))
	type exported struct {
		Name  string
		Token sensitive.String
		Share sensitive.Bytes
	}
	type unexported struct {
		name  string
		token sensitive.String
		share sensitive.Bytes
	}
	type pointers struct {
		Token *sensitive.String
		Share *sensitive.Bytes
	}
	type nested struct {
		Inner exported
		Ptr   *exported
	}
	return map[string]any{
		"String":            s,
		"*String":           &s,
		"Bytes":             b,
		"*Bytes":            &b,
		"exported fields":   exported{"n", s, b},
		"*exported fields":  &exported{"n", s, b},
		"unexported fields": unexported{"n", s, b},
		"pointer fields":    pointers{&s, &b},
		"nested":            nested{exported{"n", s, b}, &exported{"n", s, b}},
		"[]String":          []sensitive.String{s, s},
		"[]Bytes":           []sensitive.Bytes{b},
		"map value":         map[string]sensitive.String{"k": s},
		"map of structs":    map[string]exported{"k": {"n", s, b}},
		"[]any":             []any{s, b, &s},
	}
}

func TestFmtNeverLeaks(t *testing.T) {
	c := newCanary(t)
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%b", "%c", "%U", "%e", "%t",
		"%10v", "%-40s", "%#x", "% x", "%+q", "%#q", "%.3s", "%08d", "%[1]v", "%[1]T %[1]v"}
	for name, v := range holders(c) {
		// fmt cannot call methods of unexported fields: it prints the
		// pointers inside, which must not lead to the value.
		check := c.check
		if strings.HasPrefix(name, "unexported") {
			check = c.leak
		}
		for _, verb := range verbs {
			check(t, fmt.Sprintf("Sprintf(%q, %s)", verb, name), fmt.Sprintf(verb, v))
		}
		check(t, "Sprint("+name+")", fmt.Sprint(v))
		check(t, "Sprintln("+name+")", fmt.Sprintln(v))
	}
}

func TestFmtPlaceholder(t *testing.T) {
	s := sensitive.NewString("hunter2")
	for _, tt := range []struct{ format, want string }{
		{"%v", "[redacted]"},
		{"%s", "[redacted]"},
		{"%#v", "[redacted]"},
		{"%x", "[redacted]"},
		{"%d", "[redacted]"},
		{"%q", `"[redacted]"`},
		{"%12s|", "  [redacted]|"},
		{"%-12s|", "[redacted]  |"},
		{"%.3s", "[redacted]"},
	} {
		if got := fmt.Sprintf(tt.format, s); got != tt.want {
			t.Errorf("Sprintf(%q, s) = %q, want %q", tt.format, got, tt.want)
		}
	}
	var nilp *sensitive.String
	if got := fmt.Sprintf("%v", nilp); got != "<nil>" {
		t.Errorf("Sprintf(%%v, nil *String) = %q, want <nil>", got)
	}
}

func TestErrorsNeverLeak(t *testing.T) {
	c := newCanary(t)
	s := sensitive.NewString(c.plain)
	base := fmt.Errorf("login with %v", s)
	wrapped := fmt.Errorf("request %s: %w", "auth/jwt/login", base)
	joined := errors.Join(wrapped, fmt.Errorf("share %v", sensitive.NewBytes([]byte(c.plain))))
	for name, err := range map[string]error{"base": base, "wrapped": wrapped, "joined": joined} {
		c.check(t, name+".Error()", err.Error())
		c.check(t, name+" %+v", fmt.Sprintf("%+v", err))
		c.leak(t, name+" %#v", fmt.Sprintf("%#v", err)) // Go syntax of the error values: no message
	}
	if !errors.Is(wrapped, base) {
		t.Error("wrapping lost the chain")
	}
}

func TestSlogNeverLeaks(t *testing.T) {
	c := newCanary(t)
	for name, v := range holders(c) {
		for _, h := range []struct {
			name string
			new  func(*bytes.Buffer) slog.Handler
		}{
			{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
			{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		} {
			var buf bytes.Buffer
			l := slog.New(h.new(&buf))
			l.Info("attr", "v", v)
			l.Info("group", slog.Group("req", slog.Any("v", v), slog.String("path", "p")))
			l.With("v", v).WithGroup("g").Info("with", "v", v)
			l.Info("format "+fmt.Sprint(v), slog.Any("v", v))
			if strings.HasPrefix(name, "unexported") {
				c.leak(t, h.name+" handler, "+name, buf.String())
			} else {
				c.check(t, h.name+" handler, "+name, buf.String())
			}
		}
	}
}

func TestJSONNeverLeaks(t *testing.T) {
	c := newCanary(t)
	for name, v := range holders(c) {
		if strings.HasPrefix(name, "unexported") {
			continue // encoding/json skips unexported fields: nothing to check
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%s): %v", name, err)
		}
		c.check(t, "json.Marshal("+name+")", string(out))
	}
	out, err := json.Marshal(struct {
		Token sensitive.String `json:"token"`
	}{sensitive.NewString(c.plain)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"token":"[redacted]"}`; string(out) != want {
		t.Errorf("json.Marshal = %s, want %s", out, want)
	}
}

func TestXMLNeverLeaks(t *testing.T) {
	c := newCanary(t)
	out, err := xml.Marshal(struct {
		XMLName xml.Name         `xml:"r"`
		Token   sensitive.String `xml:"token,attr"`
		Share   sensitive.Bytes  `xml:"share"`
	}{Token: sensitive.NewString(c.plain), Share: sensitive.NewBytes([]byte(c.plain))})
	if err != nil {
		t.Fatal(err)
	}
	c.check(t, "xml.Marshal", string(out))
}

func TestYAMLNeverLeaks(t *testing.T) {
	c := newCanary(t)
	for name, v := range holders(c) {
		if strings.HasPrefix(name, "unexported") {
			continue // yaml.v3 refuses structs with only unexported fields' values: nothing is emitted
		}
		out, err := yaml.Marshal(v)
		if err != nil {
			t.Fatalf("yaml.Marshal(%s): %v", name, err)
		}
		c.check(t, "yaml.Marshal("+name+")", string(out))
	}
}

// TestDecodeRefused documents decoding: a secret is never decoded from
// JSON, YAML or text, and the error never echoes the input.
func TestDecodeRefused(t *testing.T) {
	c := newCanary(t)
	type holder struct {
		Token sensitive.String `json:"token" yaml:"token"`
		Share sensitive.Bytes  `json:"share" yaml:"share"`
	}
	for _, in := range []string{
		`{"token":"` + c.plain + `"}`,
		`{"share":"` + c.plain + `"}`,
		`{"token":12345678901234567890}`,
		`{"token":{"p":"` + c.plain + `"}}`,
	} {
		var h holder
		err := json.Unmarshal([]byte(in), &h)
		if !errors.Is(err, sensitive.ErrDecode) {
			t.Errorf("json.Unmarshal(%s) = %v, want ErrDecode", in, err)
		}
		if err != nil {
			c.check(t, "json.Unmarshal error", err.Error()+" [redacted]")
		}
		if !h.Token.Empty() || h.Share.Len() != 0 {
			t.Errorf("json.Unmarshal(%s) filled the secret", in)
		}
	}
	for _, in := range []string{"token: " + c.plain + "\n", "share: " + c.plain + "\n"} {
		var h holder
		err := yaml.Unmarshal([]byte(in), &h)
		if err == nil {
			t.Errorf("yaml.Unmarshal(%q) = nil, want an error", in)
			continue
		}
		c.check(t, "yaml.Unmarshal error", err.Error()+" [redacted]")
	}
	var s sensitive.String
	if err := s.UnmarshalText([]byte(c.plain)); !errors.Is(err, sensitive.ErrDecode) {
		t.Errorf("UnmarshalText = %v, want ErrDecode", err)
	}
}

func TestReveal(t *testing.T) {
	var zero sensitive.String
	if zero.Reveal() != "" || !zero.Empty() {
		t.Errorf("zero String: Reveal() = %q, Empty() = %v", zero.Reveal(), zero.Empty())
	}
	if s := sensitive.NewString(""); !s.Empty() {
		t.Error(`NewString("").Empty() = false`)
	}
	s := sensitive.NewString("v")
	if s.Reveal() != "v" || s.Empty() {
		t.Errorf("NewString(v): Reveal() = %q, Empty() = %v", s.Reveal(), s.Empty())
	}
	if !s.Equal(sensitive.NewString("v")) || s.Equal(sensitive.NewString("w")) || s.Equal(zero) {
		t.Error("String.Equal compares wrongly")
	}
	if !zero.Equal(sensitive.NewString("")) {
		t.Error("the zero String is not Equal to the empty secret")
	}

	var zb sensitive.Bytes
	if zb.Reveal() != nil || zb.Len() != 0 {
		t.Errorf("zero Bytes: Reveal() = %v, Len() = %d", zb.Reveal(), zb.Len())
	}
	zb.Wipe() // no panic on the zero value
	raw := []byte{1, 2, 3}
	b := sensitive.NewBytes(raw)
	if !bytes.Equal(b.Reveal(), []byte{1, 2, 3}) || b.Len() != 3 {
		t.Errorf("NewBytes: Reveal() = %v, Len() = %d", b.Reveal(), b.Len())
	}
	if !b.Equal(sensitive.NewBytes([]byte{1, 2, 3})) || b.Equal(sensitive.NewBytes([]byte{1, 2})) {
		t.Error("Bytes.Equal compares wrongly")
	}
	copyOf := b
	copyOf.Wipe()
	if !bytes.Equal(raw, []byte{0, 0, 0}) || !bytes.Equal(b.Reveal(), []byte{0, 0, 0}) {
		t.Errorf("Wipe left %v (raw %v)", b.Reveal(), raw)
	}
}
