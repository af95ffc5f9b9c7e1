package shamir

import "testing"

// refMul is a textbook shift-and-add multiply with branches, used only to
// check the constant-time gfMul.
func refMul(a, b byte) byte {
	var r byte
	for b != 0 {
		if b&1 == 1 {
			r ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1b
		}
		b >>= 1
	}
	return r
}

func TestGFMulMatchesReference(t *testing.T) {
	for a := range 256 {
		for b := range 256 {
			if got, want := gfMul(byte(a), byte(b)), refMul(byte(a), byte(b)); got != want {
				t.Fatalf("gfMul(%#x, %#x) = %#x, want %#x", a, b, got, want)
			}
		}
	}
}

func TestGFKnownValues(t *testing.T) {
	tests := []struct {
		name    string
		a, b, w byte
	}{
		{"fips197 example", 0x57, 0x83, 0xc1},
		{"fips197 xtime", 0x57, 0x13, 0xfe},
		{"inverse pair", 0x53, 0xca, 0x01},
		{"zero", 0x00, 0xff, 0x00},
		{"one", 0x01, 0xab, 0xab},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gfMul(tt.a, tt.b); got != tt.w {
				t.Errorf("gfMul(%#x, %#x) = %#x, want %#x", tt.a, tt.b, got, tt.w)
			}
		})
	}
}

func TestGFInverse(t *testing.T) {
	if got := gfInv(0); got != 0 {
		t.Errorf("gfInv(0) = %#x, want 0", got)
	}
	for a := 1; a < 256; a++ {
		inv := gfInv(byte(a))
		if got := gfMul(byte(a), inv); got != 1 {
			t.Fatalf("%#x * gfInv(%#x) = %#x, want 1", a, a, got)
		}
	}
}
