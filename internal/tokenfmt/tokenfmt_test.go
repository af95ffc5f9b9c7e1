package tokenfmt_test

import (
	"bytes"
	"crypto/rand"
	"hash/crc32"
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
		if !tokenfmt.Valid(s) {
			return
		}
		if tokenfmt.Prefix(s) == tokenfmt.Batch {
			if len(s) < tokenfmt.MinBatchLen || len(s) > tokenfmt.MaxBatchLen {
				t.Fatalf("Valid accepted a batch token of length %d", len(s))
			}
			return
		}
		if len(s) != tokenfmt.Len || tokenfmt.Prefix(s) == "" {
			t.Fatalf("Valid accepted malformed %q", s)
		}
	})
}

// Batch payloads of every length round-trip through a token Valid accepts.
func TestBatchRoundTrip(t *testing.T) {
	for n := 31; n < 400; n++ {
		p := make([]byte, n)
		rand.Read(p)
		if n%7 == 0 {
			clear(p[:n/2]) // leading zero bytes survive
		}
		tok := tokenfmt.EncodeBatch(p)
		if tok == "" {
			t.Fatalf("EncodeBatch(%d bytes) = \"\"", n)
		}
		if !strings.HasPrefix(tok, tokenfmt.Batch) || !tokenfmt.Valid(tok) || tokenfmt.Prefix(tok) != tokenfmt.Batch {
			t.Fatalf("EncodeBatch(%d bytes) = %q: not a valid batch token", n, tok)
		}
		got, ok := tokenfmt.DecodeBatch(tok)
		if !ok || !bytes.Equal(got, p) {
			t.Fatalf("DecodeBatch(EncodeBatch(%x)) = %x, %v", p, got, ok)
		}
	}
}

func TestBatchBounds(t *testing.T) {
	if tok := tokenfmt.EncodeBatch(make([]byte, 3000)); tok != "" {
		t.Errorf("EncodeBatch(3000 bytes) = %d chars, want refused (max %d)", len(tok), tokenfmt.MaxBatchLen)
	}
	if tok := tokenfmt.EncodeBatch(make([]byte, 8)); tok != "" {
		t.Errorf("EncodeBatch(8 bytes) = %q, want refused as shorter than MinBatchLen", tok)
	}
	big := tokenfmt.EncodeBatch(make([]byte, 2960))
	if big == "" || len(big) > tokenfmt.MaxBatchLen {
		t.Errorf("EncodeBatch(2960 bytes) has %d chars, want 1..%d", len(big), tokenfmt.MaxBatchLen)
	}
}

func TestDecodeBatchRejects(t *testing.T) {
	good := tokenfmt.EncodeBatch(bytes.Repeat([]byte{0xff}, 40))
	body := good[4 : len(good)-6]
	tests := []struct{ name, in string }{
		{"service token", tokenfmt.Generate(tokenfmt.Service)},
		{"no checksum", good[:len(good)-6]},
		{"flipped checksum", good[:len(good)-1] + string(flipc(good[len(good)-1]))},
		{"flipped body", tokenfmt.Batch + string(flipc(body[0])) + good[5:]},
		{"too long", tokenfmt.Batch + strings.Repeat("z", tokenfmt.MaxBatchLen)},
		// Right checksums, bodies that are no encoding: a full block above
		// 2^64, a 2-digit block above 255, a 4-digit block (no block size).
		{"block overflows 64 bits", withSum(strings.Repeat("z", 44))},
		{"short block too big", withSum(strings.Repeat("0", 44) + "zz")},
		{"impossible block length", withSum(strings.Repeat("0", 44) + "0000")},
	}
	if s := withSum(strings.Repeat("z", 44)); !tokenfmt.Valid(s) {
		t.Fatalf("withSum made %q, which Valid refuses", s)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, ok := tokenfmt.DecodeBatch(tt.in); ok {
				t.Errorf("DecodeBatch(%q) = %x, true; want refused", tt.in, p)
			}
		})
	}
}

// withSum returns a batch-prefixed string with body and a correct checksum.
func withSum(body string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	s := tokenfmt.Batch + body
	v := crc32.ChecksumIEEE([]byte(s))
	var sum [6]byte
	for i := 5; i >= 0; i-- {
		sum[i] = alphabet[v%62]
		v /= 62
	}
	return s + string(sum[:])
}

func flipc(c byte) byte {
	if c == 'a' {
		return 'b'
	}
	return 'a'
}

// FuzzDecodeBatch: whatever decodes re-encodes to the same string, so a
// payload has exactly one token.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(tokenfmt.EncodeBatch(make([]byte, 40)))
	f.Add(tokenfmt.EncodeBatch(bytes.Repeat([]byte{0xff}, 41)))
	f.Add("kwb_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := tokenfmt.DecodeBatch(s)
		if !ok {
			return
		}
		if again := tokenfmt.EncodeBatch(p); again != s {
			t.Fatalf("DecodeBatch(%q) = %x, which encodes to %q", s, p, again)
		}
	})
}
