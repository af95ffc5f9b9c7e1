package totp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auth/totp"
)

// RFC 6238 appendix B test vectors (8 digits).
func TestRFC6238Vectors(t *testing.T) {
	keys := map[string]totp.Key{
		"SHA1":   {Secret: []byte("12345678901234567890"), Algorithm: "SHA1", Digits: 8, Period: 30},
		"SHA256": {Secret: []byte("12345678901234567890123456789012"), Algorithm: "SHA256", Digits: 8, Period: 30},
		"SHA512": {Secret: []byte("1234567890123456789012345678901234567890123456789012345678901234"), Algorithm: "SHA512", Digits: 8, Period: 30},
	}
	tests := []struct {
		unix int64
		alg  string
		want string
	}{
		{59, "SHA1", "94287082"}, {59, "SHA256", "46119246"}, {59, "SHA512", "90693936"},
		{1111111109, "SHA1", "07081804"}, {1111111109, "SHA256", "68084774"}, {1111111109, "SHA512", "25091201"},
		{1234567890, "SHA1", "89005924"}, {2000000000, "SHA1", "69279037"}, {20000000000, "SHA512", "47863826"},
	}
	for _, tt := range tests {
		t.Run(tt.alg+"/"+tt.want, func(t *testing.T) {
			k := keys[tt.alg]
			got, err := k.Code(k.Step(time.Unix(tt.unix, 0)))
			if err != nil || got != tt.want {
				t.Errorf("Code(%d) = %q, %v; want %q", tt.unix, got, err, tt.want)
			}
			if _, ok := k.Check(tt.want, time.Unix(tt.unix, 0)); !ok {
				t.Errorf("Check(%q) = false", tt.want)
			}
		})
	}
}

func TestCheckWindowAndMalformed(t *testing.T) {
	// A fixed key, so the cases are deterministic (a random one could make
	// an old code collide with a current one).
	k := totp.Key{Secret: []byte("12345678901234567890"), Algorithm: "SHA1", Digits: 6, Period: 30, Skew: 1}
	now := time.Unix(1_700_000_000, 0)
	code, _ := k.Code(k.Step(now))
	prev, _ := k.Code(k.Step(now) - 1)
	far, _ := k.Code(k.Step(now) - 3)
	tests := []struct {
		name string
		code string
		want bool
	}{
		{"current", code, true},
		{"previous step", prev, true},
		{"three steps old", far, false},
		{"leading space", " " + code, false},
		{"inner space", code[:3] + " " + code[3:], false},
		{"spaced pairs", " " + code[:3] + " " + code[3:], false},
		{"plus sign", "+" + code[1:], false},
		{"seven digits", code + "0", false},
		{"empty", "", false},
		{"unicode digits", strings.Repeat("٣", 6), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := k.Check(tt.code, now); ok != tt.want {
				t.Errorf("Check(%q) = %v, want %v", tt.code, ok, tt.want)
			}
		})
	}
}

func TestURL(t *testing.T) {
	k := totp.Generate()
	u := k.URL("Keyward", "alice")
	if !strings.HasPrefix(u, "otpauth://totp/Keyward:alice?") || !strings.Contains(u, "secret="+k.Base32()) {
		t.Errorf("URL = %q", u)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("123456")
	f.Add(" 123 456")
	f.Add("")
	k := totp.Key{Secret: []byte("12345678901234567890"), Digits: 6, Period: 30, Skew: 1}
	now := time.Unix(59, 0)
	f.Fuzz(func(t *testing.T, code string) {
		if _, ok := k.Check(code, now); ok {
			for i := 0; i < len(code); i++ {
				if code[i] < '0' || code[i] > '9' {
					t.Fatalf("Check accepted non-digit code %q", code)
				}
			}
			if len(code) != 6 {
				t.Fatalf("Check accepted %d-digit code", len(code))
			}
		}
	})
}
