package tokenfmt_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/tokenfmt"
)

func TestGenerateValid(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		tok := tokenfmt.Generate(tokenfmt.Service)
		if len(tok) != tokenfmt.Len || !strings.HasPrefix(tok, "kws_") {
			t.Fatalf("Generate = %q: bad shape", tok)
		}
		if !tokenfmt.Valid(tok) {
			t.Fatalf("Valid(%q) = false", tok)
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
	}
}

func TestValidRejects(t *testing.T) {
	good := tokenfmt.Generate(tokenfmt.Service)
	flip := []byte(good)
	if flip[10] == 'a' {
		flip[10] = 'b'
	} else {
		flip[10] = 'a'
	}
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"short", good[:len(good)-1]},
		{"long", good + "a"},
		{"bad prefix", "kwz_" + good[4:]},
		{"vault prefix", "hvs." + good[4:]},
		{"flipped body char", string(flip)},
		{"bad alphabet", good[:20] + "-" + good[21:]},
		{"all zeros", "kws_" + strings.Repeat("0", tokenfmt.Len-4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tokenfmt.Valid(tt.in) {
				t.Errorf("Valid(%q) = true, want false", tt.in)
			}
		})
	}
}

func FuzzValid(f *testing.F) {
	f.Add(tokenfmt.Generate(tokenfmt.Service))
	f.Add("kws_")
	f.Fuzz(func(t *testing.T, s string) {
		if tokenfmt.Valid(s) && (len(s) != tokenfmt.Len || tokenfmt.Prefix(s) == "") {
			t.Fatalf("Valid accepted malformed %q", s)
		}
	})
}
