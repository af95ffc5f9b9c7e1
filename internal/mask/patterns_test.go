package mask

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestDeriveMinLen(t *testing.T) {
	ps := derive([]Secret{{Name: "SHORT", Value: "abc"}, {Name: "JSON", Value: "{\n \"a\": \"xy\",\n \"b\": \"long-enough\"\n}"}}, DefaultMinLen)
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.s] {
			t.Errorf("pattern %q registered twice", p.s)
		}
		seen[p.s] = true
		if len(p.s) < DefaultMinLen && p.s != "abc" {
			t.Errorf("pattern %q (from %s) shorter than MinLen", p.s, p.name)
		}
	}
	if !seen["abc"] {
		t.Error("short raw value not registered")
	}
	if !seen["long-enough"] {
		t.Error("JSON field not registered")
	}
	for _, p := range ps {
		if p.s == "long-enough" && p.name != "JSON.b" {
			t.Errorf("JSON field named %q, want JSON.b", p.name)
		}
	}
}

func TestStableBase64(t *testing.T) {
	// The stable form at each alignment appears in the encoding of the value
	// with any bytes around it.
	const v = "user:s3cr3t"
	for _, pre := range []string{"", "a", "ab", "abc", "abcd"} {
		for _, post := range []string{"", "z", "zz", "zzz"} {
			enc := b64std(pre + v + post)
			if s := stableBase64Std(v, len(pre)%3); !strings.Contains(enc, s) || len(s) < 12 {
				t.Errorf("stable form %q at alignment %d not in %q", s, len(pre)%3, enc)
			}
		}
	}
}

func b64std(s string) string { return stdEnc.EncodeToString([]byte(s)) }

func stableBase64Std(s string, a int) string { return stableBase64(stdEnc, []byte(s), a) }

var stdEnc = base64.StdEncoding
