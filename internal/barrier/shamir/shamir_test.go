package shamir_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"testing"

	"github.com/keyward/keyward/internal/barrier/shamir"
)

func mustSplit(t testing.TB, secret []byte, n, k int) [][]byte {
	t.Helper()
	shares, err := shamir.Split(secret, n, k)
	if err != nil {
		t.Fatalf("Split(%d bytes, %d, %d): %v", len(secret), n, k, err)
	}
	return shares
}

func randomSecret(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestSplitShape(t *testing.T) {
	secret := randomSecret(t, 32)
	shares := mustSplit(t, secret, 5, 3)
	if len(shares) != 5 {
		t.Fatalf("got %d shares, want 5", len(shares))
	}
	seen := map[byte]bool{}
	for i, s := range shares {
		if len(s) != len(secret)+1 {
			t.Errorf("share %d is %d bytes, want %d", i, len(s), len(secret)+1)
		}
		x := s[len(s)-1]
		if x == 0 || seen[x] {
			t.Errorf("share %d has x-coordinate %d (zero or repeated)", i, x)
		}
		seen[x] = true
	}
}

func TestSplitThresholdOne(t *testing.T) {
	secret := randomSecret(t, 32)
	shares := mustSplit(t, secret, 1, 1)
	if len(shares) != 1 || !bytes.Equal(shares[0], secret) {
		t.Fatalf("Split(secret, 1, 1) = %x, want the secret itself", shares)
	}
	shares[0][0] ^= 1
	if shares[0][0] == secret[0] {
		t.Fatal("Split(secret, 1, 1) aliases the secret")
	}
}

func TestSplitRejects(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		n, k   int
	}{
		{"empty secret", nil, 5, 3},
		{"threshold 1 with many shares", []byte("s"), 5, 1},
		{"threshold 0", []byte("s"), 5, 0},
		{"negative", []byte("s"), -1, -1},
		{"fewer shares than threshold", []byte("s"), 2, 3},
		{"too many shares", []byte("s"), 256, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := shamir.Split(tt.secret, tt.n, tt.k); err == nil {
				t.Errorf("Split(%q, %d, %d) succeeded, want error", tt.secret, tt.n, tt.k)
			}
		})
	}
}

func TestAnyKOfNReconstructExhaustive(t *testing.T) {
	for n := 2; n <= 7; n++ {
		for k := 2; k <= n; k++ {
			secret := randomSecret(t, 17)
			shares := mustSplit(t, secret, n, k)
			// Every subset of size >= k, in the order given by the bitmask.
			for mask := 1; mask < 1<<n; mask++ {
				var subset [][]byte
				for i := range n {
					if mask&(1<<i) != 0 {
						subset = append(subset, shares[i])
					}
				}
				if len(subset) < k {
					continue
				}
				got, err := shamir.Combine(subset)
				if err != nil {
					t.Fatalf("n=%d k=%d mask=%b: Combine: %v", n, k, mask, err)
				}
				if !bytes.Equal(got, secret) {
					t.Fatalf("n=%d k=%d mask=%b: Combine = %x, want %x", n, k, mask, got, secret)
				}
			}
		}
	}
}

func TestTooFewSharesDoNotReconstruct(t *testing.T) {
	// With k-1 shares, interpolation yields a value independent of the
	// secret; for a 32-byte secret matching by chance has odds 2^-256.
	secret := randomSecret(t, 32)
	shares := mustSplit(t, secret, 5, 3)
	got, err := shamir.Combine(shares[:2])
	if err != nil {
		t.Fatalf("Combine(2 of threshold 3): %v", err)
	}
	if bytes.Equal(got, secret) {
		t.Fatal("Combine of k-1 shares reconstructed the secret")
	}
}

func TestRandomSubsetsLarge(t *testing.T) {
	secret := randomSecret(t, 32)
	shares := mustSplit(t, secret, 255, 128)
	rng := mrand.New(mrand.NewPCG(1, 2))
	for trial := range 20 {
		size := 128 + rng.IntN(128)
		perm := rng.Perm(255)[:size]
		subset := make([][]byte, size)
		for i, p := range perm {
			subset[i] = shares[p]
		}
		got, err := shamir.Combine(subset)
		if err != nil {
			t.Fatalf("trial %d (%d shares): Combine: %v", trial, size, err)
		}
		if !bytes.Equal(got, secret) {
			t.Fatalf("trial %d (%d shares): wrong secret", trial, size)
		}
	}
	// 127 shares are one short of the threshold.
	got, err := shamir.Combine(shares[:127])
	if err != nil {
		t.Fatalf("Combine(127 shares): %v", err)
	}
	if bytes.Equal(got, secret) {
		t.Fatal("127 of threshold 128 shares reconstructed the secret")
	}
}

// TestFewerThanThresholdIsUniform checks that k-1 shares carry no information:
// interpolating them at 0 gives a value uniform over GF(2^8) whatever the
// secret. A broken split (say, zero coefficients) would return the secret
// every time and fail the chi-squared bound by orders of magnitude.
func TestFewerThanThresholdIsUniform(t *testing.T) {
	const perBucket = 100
	for _, tc := range []struct {
		name   string
		secret byte
		k      int
	}{
		{"k=2 secret 0x00", 0x00, 2},
		{"k=3 secret 0x42", 0x42, 3},
		{"k=4 secret 0xff", 0xff, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var counts [256]int
			for range 256 * perBucket {
				shares := mustSplit(t, []byte{tc.secret}, tc.k, tc.k)
				var v byte
				if tc.k == 2 {
					// One share: its y-value alone.
					v = shares[0][0]
				} else {
					got, err := shamir.Combine(shares[:tc.k-1])
					if err != nil {
						t.Fatalf("Combine: %v", err)
					}
					v = got[0]
				}
				counts[v]++
			}
			var chi2 float64
			for _, c := range counts {
				d := float64(c - perBucket)
				chi2 += d * d / perBucket
			}
			// 255 degrees of freedom: mean 255, sd ~22.6. 420 is over 7
			// standard deviations, so a correct split essentially never fails.
			if chi2 > 420 {
				t.Errorf("chi-squared = %.1f over 256 buckets, want < 420 (count of secret value: %d)", chi2, counts[tc.secret])
			}
		})
	}
}

func TestCombineRejects(t *testing.T) {
	a := []byte{1, 2, 3, 1}
	b := []byte{4, 5, 6, 2}
	tests := []struct {
		name   string
		shares [][]byte
	}{
		{"no shares", nil},
		{"one share", [][]byte{a}},
		{"mismatched lengths", [][]byte{a, {4, 5, 2}}},
		{"duplicate x", [][]byte{a, {7, 8, 9, 1}}},
		{"same share twice", [][]byte{a, a}},
		{"x is zero", [][]byte{a, {4, 5, 6, 0}}},
		{"too short", [][]byte{{1}, {2}}},
		{"empty shares", [][]byte{{}, {}}},
		{"nil share", [][]byte{a, nil}},
		{"first share short", [][]byte{{1}, b}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := shamir.Combine(tt.shares)
			if !errors.Is(err, shamir.ErrInvalidShares) {
				t.Errorf("Combine(%x) error = %v, want ErrInvalidShares", tt.shares, err)
			}
		})
	}
	t.Run("too many shares", func(t *testing.T) {
		many := make([][]byte, 256)
		for i := range many {
			many[i] = []byte{0, byte(i)}
		}
		if _, err := shamir.Combine(many); !errors.Is(err, shamir.ErrInvalidShares) {
			t.Errorf("Combine(256 shares) error = %v, want ErrInvalidShares", err)
		}
	})
}

func TestSplitDoesNotReuseRandomness(t *testing.T) {
	secret := randomSecret(t, 32)
	s1 := mustSplit(t, secret, 3, 2)
	s2 := mustSplit(t, secret, 3, 2)
	for _, a := range s1 {
		for _, b := range s2 {
			if bytes.Equal(a[:32], b[:32]) {
				t.Fatal("two splits of one secret produced an identical share body")
			}
		}
	}
}

func FuzzCombine(f *testing.F) {
	f.Add([]byte{2, 1, 1, 2, 2})
	f.Add([]byte{3, 10, 20, 1, 30, 40, 2, 50, 60, 3})
	f.Add([]byte{})
	f.Add([]byte{0, 0})
	f.Add([]byte{1, 5, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		// First byte is the share size; the rest is cut into shares.
		size := int(data[0])
		var shares [][]byte
		rest := data[1:]
		for size > 0 && len(rest) > 0 {
			n := min(size, len(rest))
			shares = append(shares, rest[:n])
			rest = rest[n:]
		}
		got, err := shamir.Combine(shares)
		if err != nil {
			return
		}
		if len(got) != size-1 {
			t.Fatalf("Combine returned %d bytes for %d-byte shares", len(got), size)
		}
		// Interpolation does not depend on the order of the points.
		reversed := make([][]byte, len(shares))
		for i, s := range shares {
			reversed[len(shares)-1-i] = s
		}
		again, err := shamir.Combine(reversed)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("Combine depends on share order: %x vs %x (%v)", got, again, err)
		}
	})
}

func FuzzSplitCombine(f *testing.F) {
	f.Add([]byte("root key material"), uint8(5), uint8(3), uint64(7))
	f.Add([]byte{0}, uint8(2), uint8(2), uint64(0))
	f.Add([]byte{0xff, 0x00}, uint8(255), uint8(255), uint64(1))
	f.Fuzz(func(t *testing.T, secret []byte, n, k uint8, seed uint64) {
		shares, err := shamir.Split(secret, int(n), int(k))
		valid := len(secret) > 0 && ((n == 1 && k == 1) || (k >= 2 && n >= k))
		if (err == nil) != valid {
			t.Fatalf("Split(%d bytes, %d, %d) error = %v, valid = %v", len(secret), n, k, err, valid)
		}
		if err != nil || k == 1 {
			return
		}
		rng := mrand.New(mrand.NewPCG(seed, 0))
		size := int(k) + rng.IntN(int(n)-int(k)+1)
		perm := rng.Perm(int(n))[:size]
		subset := make([][]byte, size)
		for i, p := range perm {
			subset[i] = shares[p]
		}
		got, err := shamir.Combine(subset)
		if err != nil {
			t.Fatalf("Combine(%d of %d, threshold %d): %v", size, n, k, err)
		}
		if !bytes.Equal(got, secret) {
			t.Fatalf("Combine(%d of %d, threshold %d) = %x, want %x", size, n, k, got, secret)
		}
	})
}
