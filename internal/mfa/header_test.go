package mfa_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/mfa"
)

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []mfa.Credential
		bad  bool
	}{
		{name: "none", in: nil},
		{name: "name and code", in: []string{"ops-totp:123456"}, want: []mfa.Credential{{"ops-totp", "123456"}}},
		{name: "id and code", in: []string{"0f8e-11:123456"}, want: []mfa.Credential{{"0f8e-11", "123456"}}},
		{name: "bare code", in: []string{"123456"}, want: []mfa.Credential{{"", "123456"}}},
		{name: "spaces trimmed", in: []string{" a : 1 "}, want: []mfa.Credential{{"a", "1"}}},
		{name: "two by comma", in: []string{"a:1,b:2"}, want: []mfa.Credential{{"a", "1"}, {"b", "2"}}},
		{name: "two headers", in: []string{"a:1", "b:2"}, want: []mfa.Credential{{"a", "1"}, {"b", "2"}}},
		{name: "passcode with colon", in: []string{"a:1:2"}, want: []mfa.Credential{{"a", "1:2"}}},
		{name: "bare code beside another", in: []string{"1,b:2"}, bad: true},
		{name: "empty method", in: []string{":123456"}, bad: true},
		{name: "empty code", in: []string{"a:"}, bad: true},
		{name: "space in code", in: []string{"a:12 34"}, bad: true},
		{name: "slash in method", in: []string{"a/b:1"}, bad: true},
		{name: "control", in: []string{"a:1\x00"}, bad: true},
		{name: "too many", in: []string{strings.Repeat("a:1,", 9)}, bad: true},
		{name: "long code", in: []string{"a:" + strings.Repeat("1", 65)}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mfa.ParseHeader(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("ParseHeader(%q) = %v, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseHeader(%q): %v", tc.in, err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("ParseHeader(%q) = %v, want %v", tc.in, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("ParseHeader(%q) = %v, want %v", tc.in, got, tc.want)
				}
			}
		})
	}
}

// FuzzParseHeader: the error never carries any part of the header (it
// holds passcodes), and what parses is well formed: at most
// MaxHeaderEntries entries of printable passcodes, a bare passcode only
// alone.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"ops:123456", "123456", "a:1,b:2", " a : 1 ", ":", "a:1:2", "x/y:1", "a:\x7f"} {
		f.Add(s, "")
	}
	f.Add("a:1", "b:2")
	f.Fuzz(func(t *testing.T, h1, h2 string) {
		creds, err := mfa.ParseHeader([]string{h1, h2})
		if err != nil {
			for _, part := range strings.FieldsFunc(h1+","+h2, func(r rune) bool { return r == ',' || r == ':' || r == ' ' }) {
				if len(part) >= 4 && strings.Contains(err.Error(), part) && !strings.Contains(errText, part) {
					t.Fatalf("error %q quotes header part %q", err, part)
				}
			}
			return
		}
		if len(creds) > mfa.MaxHeaderEntries {
			t.Fatalf("%d entries", len(creds))
		}
		for _, c := range creds {
			if c.Passcode == "" || strings.ContainsAny(c.Passcode, " \t\r\n,") {
				t.Fatalf("bad passcode %q", c.Passcode)
			}
			if c.Method == "" && len(creds) > 1 {
				t.Fatalf("bare passcode beside others: %v", creds)
			}
			if strings.ContainsAny(c.Method, ":/ ") {
				t.Fatalf("bad method %q", c.Method)
			}
		}
	})
}

// errText is the fixed error message; words of it may legitimately occur
// in a fuzzed header.
var errText = func() string {
	_, err := mfa.ParseHeader([]string{":"})
	return err.Error()
}()
