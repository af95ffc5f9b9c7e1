package cli

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/core"
)

func TestParseKVArgs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "v")
	if err := os.WriteFile(file, []byte("from file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		stdin   string
		want    map[string]any
		wantErr string
	}{
		{"plain", []string{"a=1", "b=x=y"}, "", map[string]any{"a": "1", "b": "x=y"}, ""},
		{"empty value", []string{"a="}, "", map[string]any{"a": ""}, ""},
		{"file exact", []string{"a=@" + file}, "", map[string]any{"a": "from file\n"}, ""},
		{"stdin trims one newline", []string{"a=-"}, "v\n\n", map[string]any{"a": "v\n"}, ""},
		{"stdin crlf", []string{"a=-"}, "v\r\n", map[string]any{"a": "v"}, ""},
		{"stdin json", []string{"-", "b=2"}, `{"a": 1}`, map[string]any{"a": float64(1), "b": "2"}, ""},
		{"later wins", []string{"a=1", "a=2"}, "", map[string]any{"a": "2"}, ""},
		{"stdin twice", []string{"a=-", "b=-"}, "v", nil, "stdin can only be read once"},
		{"no key", []string{"=v"}, "", nil, "KEY=VALUE"},
		{"no equals", []string{"secretvalue"}, "", nil, "KEY=VALUE"},
		{"missing file", []string{"a=@" + filepath.Join(dir, "none")}, "", nil, "field a"},
		{"bad json", []string{"-"}, "nope", nil, "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseKVArgs(tc.args, &stdinSource{r: strings.NewReader(tc.stdin)})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseKVArgs(%q) error = %v, want %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseKVArgs(%q): %v", tc.args, err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("parseKVArgs(%q) (-want +got):\n%s", tc.args, d)
			}
		})
	}
}

// FuzzParseKVArg checks that a parse error never echoes the argument or
// the stdin value, and that a KEY=VALUE without @ or - round-trips.
func FuzzParseKVArg(f *testing.F) {
	for _, s := range []string{"a=b", "=x", "noequals", "k=-", "k=@", "k==v", "ключ=значение", "a=b=c"} {
		f.Add(s, "stdin-secret\n")
	}
	f.Fuzz(func(t *testing.T, arg, stdin string) {
		k, v, err := parseKVArg(arg, &stdinSource{r: strings.NewReader(stdin)})
		if err != nil {
			if len(arg) > 8 && strings.Contains(err.Error(), arg) {
				t.Fatalf("error %q echoes the argument", err)
			}
			if len(stdin) > 8 && strings.Contains(err.Error(), stdin) {
				t.Fatalf("error %q echoes stdin", err)
			}
			return
		}
		if k == "" {
			t.Fatalf("parseKVArg(%q) returned an empty key", arg)
		}
		rest := strings.TrimPrefix(arg, k+"=")
		switch {
		case rest == "-":
			if v != trimNewline(stdin) {
				t.Fatalf("stdin value %q, want %q", v, trimNewline(stdin))
			}
		case strings.HasPrefix(rest, "@"):
		default:
			if k+"="+v != arg {
				t.Fatalf("parseKVArg(%q) = %q, %q", arg, k, v)
			}
		}
	})
}

// TestDecodeRootToken cross-checks the CLI's decoder with the server's.
func TestDecodeRootToken(t *testing.T) {
	const tok, otp = "kws_example-root-token-0123456789", "abcdefghijklmnopqrstuvwxyz0123456"
	enc := make([]byte, len(tok))
	for i := range enc {
		enc[i] = tok[i] ^ otp[i]
	}
	encoded := base64.RawStdEncoding.EncodeToString(enc)
	got, err := decodeRootToken(encoded, otp)
	if err != nil || got != tok {
		t.Fatalf("decodeRootToken = %q, %v; want %q", got, err, tok)
	}
	want, err := core.DecodeRootToken(encoded, otp)
	if err != nil || want != got {
		t.Fatalf("core.DecodeRootToken = %q, %v; the CLI gives %q", want, err, got)
	}
	if _, err := decodeRootToken(encoded+"==", otp); err != nil {
		t.Errorf("padded input: %v", err)
	}
	if _, err := decodeRootToken(encoded, otp[1:]); err == nil {
		t.Error("an OTP of the wrong length was accepted")
	}
	if _, err := decodeRootToken("!!!", otp); err == nil {
		t.Error("invalid base64 was accepted")
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, "<nil>"},
		{"s", "s"},
		{true, "true"},
		{float64(5432), "5432"},
		{float64(1e21), "1000000000000000000000"},
		{1.5, "1.5"},
		{[]any{"a", float64(2)}, "[a 2]"},
		{map[string]any{"b": "2", "a": nil}, "map[a:<nil> b:2]"},
		{map[string]string{"v": "2"}, "map[v:2]"},
	}
	for _, tc := range tests {
		if got := formatValue(tc.in); got != tc.want {
			t.Errorf("formatValue(%#v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHumanSeconds(t *testing.T) {
	for in, want := range map[int]string{0: "0s", 59: "59s", 600: "10m", 3600: "1h", 3661: "1h1m1s", 2764800: "768h", 5400: "1h30m"} {
		if got := humanSeconds(in); got != want {
			t.Errorf("humanSeconds(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeVaultFlags(t *testing.T) {
	got := normalizeArgs([]string{"kv", "get", "-field=password", "-version", "2", "secret/x"})
	want := []string{"kv", "get", "--field=password", "--version", "2", "secret/x"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("normalizeArgs (-want +got):\n%s", d)
	}
}

// TestHelpComplete checks that every command of this file set has
// hand-written help with an example, and runs its RunE (no silent groups).
func TestHelpComplete(t *testing.T) {
	root := newRootCmd(&env{getenv: func(string) string { return "" }})
	mine := map[string]bool{"status": true, "operator": true, "login": true, "token": true, "policy": true,
		"kv": true, "secrets": true, "read": true, "write": true, "list": true, "delete": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%s: missing Short, Long or Example", c.CommandPath())
		}
		if c.RunE == nil {
			t.Errorf("%s: no RunE", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	found := 0
	for _, c := range root.Commands() {
		if mine[c.Name()] {
			found++
			walk(c)
		}
	}
	if found != len(mine) {
		t.Errorf("found %d of the %d commands", found, len(mine))
	}
}
