package pki

import (
	"math/big"
	"strings"
	"testing"
)

func TestSerialFormat(t *testing.T) {
	for i := 0; i < 200; i++ {
		n, err := newSerial()
		if err != nil {
			t.Fatal(err)
		}
		if n.Sign() <= 0 || n.BitLen() > 159 {
			t.Fatalf("serial %x out of range", n)
		}
		s := formatSerial(n)
		if len(s) > 20*3-1 || strings.ToLower(s) != s {
			t.Fatalf("formatSerial = %q", s)
		}
		back, canon, err := parseSerial(strings.ReplaceAll(s, ":", "-"))
		if err != nil || back.Cmp(n) != 0 || canon != s {
			t.Fatalf("parseSerial(%q) = %x %q %v", s, back, canon, err)
		}
	}
	if got := formatSerial(big.NewInt(0x1f0a)); got != "1f:0a" {
		t.Fatalf("formatSerial(0x1f0a) = %q", got)
	}
	for _, bad := range []string{"", "zz", "0", "-", strings.Repeat("ab", 22)} {
		if _, _, err := parseSerial(bad); err == nil {
			t.Errorf("parseSerial(%q) accepted", bad)
		}
	}
}

// FuzzParseSerial: whatever parses has one canonical form, which parses
// to the same number and formats to itself.
func FuzzParseSerial(f *testing.F) {
	for _, s := range []string{"1f:0a", "1f-0a", "00:ff", "ABCDEF", "::", "7f:ff:ff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, canon, err := parseSerial(s)
		if err != nil {
			return
		}
		if n.Sign() <= 0 || formatSerial(n) != canon {
			t.Fatalf("parseSerial(%q) = %x, %q", s, n, canon)
		}
		n2, canon2, err := parseSerial(canon)
		if err != nil || n2.Cmp(n) != 0 || canon2 != canon {
			t.Fatalf("canonical %q does not round-trip", canon)
		}
	})
}
