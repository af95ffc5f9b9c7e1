package policy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/policy"
)

func TestCleanPath(t *testing.T) {
	valid := []struct{ in, want string }{
		{"secret/data/team-a/x", "secret/data/team-a/x"},
		{"/secret/data/x", "secret/data/x"},
		{"secret/metadata/", "secret/metadata/"},
		{"secret/data/a.b", "secret/data/a.b"},
		{"secret/data/...x", "secret/data/...x"},
		{"secret/data/x..", "secret/data/x.."},
		{"secret/data/caf\u00e9", "secret/data/caf\u00e9"},
		{"secret/data/a%20b", "secret/data/a%20b"},
		{"sys", "sys"},
	}
	for _, tc := range valid {
		t.Run("ok "+tc.in, func(t *testing.T) {
			got, err := policy.CleanPath(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("CleanPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
	invalid := []string{
		"",
		"/",
		"//secret",
		"secret/data/team-a/../../../sys/policies/acl/root",
		"secret/data/team-a/..",
		"secret/data/./x",
		"./secret",
		"secret//data",
		"secret/data//",
		"secret/data\x00/x",
		"secret/data/x\n",
		"secret/data/\x7f",
		"secret/data/\u0085",
		"secret\\data",
		"secret/data/%2e%2e/x",
		"secret/data/.%2e/x",
		"secret/data/%2E%2e%2Fsys",
		"secret/data/..%2fsys",
		"secret/data/%5csys",
		"secret/data/%00",
		"secret/\xc0\xae\xc0\xae/x",
		"secret/\xe0\x80\xae/x",
		"secret/\xff",
		"secret/\u2024\u2024/x",
		"secret/\uff0e\uff0e/x",
		"secret/\uff0e/x",
		"secret/\u2025/x",
		"secret/.../x",
		"secret/.\u200b./x",
		"secret/\u202etxt.exe",
		"secret/\ufeffx",
	}
	for _, in := range invalid {
		t.Run("bad "+in, func(t *testing.T) {
			got, err := policy.CleanPath(in)
			var pe *policy.PathError
			if !errors.As(err, &pe) {
				t.Fatalf("CleanPath(%q) = %q, %v; want *PathError", in, got, err)
			}
		})
	}
}

func TestCleanRawPath(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "secret/data/x", "secret/data/x", true},
		{"space", "secret/data/a%20b", "secret/data/a b", true},
		{"utf8", "secret/data/caf%C3%A9", "secret/data/caf\u00e9", true},
		{"encoded dotdot", "secret/data/%2e%2e/sys", "", false},
		{"mixed case", "secret/data/%2E%2e%2Fsys", "", false},
		{"dot encoded dot", "secret/data/.%2e/sys", "", false},
		{"dotdot encoded slash", "secret/data/..%2fsys", "", false},
		{"encoded slash", "secret/data/a%2fb", "", false},
		{"encoded slash upper", "secret/data/a%2Fb", "", false},
		{"encoded backslash alone", "secret/data/a%5Cb", "", false},
		{"double encoded", "secret/data/%252e%252e/sys", "", false},
		{"double encoded slash", "secret/data/%252F", "", false},
		{"encoded backslash", "secret/data/%5c..", "", false},
		{"encoded nul", "secret/data/%00", "", false},
		{"overlong dot", "secret/%c0%ae%c0%ae/sys", "", false},
		{"fullwidth dots", "secret/%EF%BC%8E%EF%BC%8E/sys", "", false},
		{"truncated escape", "secret/data/%2", "", false},
		{"bad escape", "secret/data/%zz", "", false},
		{"encoded double slash", "secret/%2F%2Fdata", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := policy.CleanRawPath(tc.in)
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("CleanRawPath(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
			var pe *policy.PathError
			if err != nil && !errors.As(err, &pe) {
				t.Fatalf("CleanRawPath(%q) error %T, want *PathError", tc.in, err)
			}
		})
	}
}

func TestPathErrorIsShort(t *testing.T) {
	long := "a/" + strings.Repeat("x", 5000) + "/../b"
	_, err := policy.CleanPath(long)
	if err == nil {
		t.Fatal("CleanPath accepted a traversal")
	}
	if len(err.Error()) > 200 {
		t.Fatalf("error message is %d bytes, want it truncated", len(err.Error()))
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"secret/data/x", "/a/b/", "a/../b", "a/%2e%2e/b", "a//b", "a/\u2024\u2024", "\xc0\xae", "a/./b", "a\\b", "x/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := policy.CleanPath(p)
		if err != nil {
			return
		}
		c2, err := policy.CleanPath(c)
		if err != nil || c2 != c {
			t.Fatalf("CleanPath not idempotent: %q -> %q -> %q, %v", p, c, c2, err)
		}
		for seg := range strings.SplitSeq(c, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("CleanPath(%q) = %q keeps a dot segment", p, c)
			}
		}
		if strings.Contains(c, "//") || strings.ContainsAny(c, "\\\x00") || strings.HasPrefix(c, "/") {
			t.Fatalf("CleanPath(%q) = %q is not canonical", p, c)
		}
		if r, err := policy.CleanRawPath(p); err == nil {
			if r2, err := policy.CleanPath(r); err != nil || r2 != r {
				t.Fatalf("CleanRawPath(%q) = %q is not canonical: %q, %v", p, r, r2, err)
			}
		}
	})
}
