// Package shamir splits a secret into shares with Shamir's threshold scheme
// over GF(2^8) and combines enough shares back into the secret. Each byte of
// the secret is the constant term of its own random polynomial of degree
// threshold-1; a share holds the polynomials' values at one non-zero point.
//
// The field arithmetic is table-free and branch-free on secret data, and all
// randomness comes from crypto/rand. The package never logs and never puts
// share or secret bytes in an error.
package shamir

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// MaxShares is the largest number of shares: x-coordinates are the non-zero
// elements of GF(2^8).
const MaxShares = 255

var (
	// ErrInvalidShares is wrapped by every error Combine returns for shares
	// that cannot be combined.
	ErrInvalidShares = errors.New("invalid shares")
)

// Split divides secret into n shares, any k of which reconstruct it with
// Combine; fewer than k reveal nothing about it. It requires a non-empty
// secret and 2 <= k <= n <= 255. Each share is len(secret)+1 bytes: the
// polynomial values followed by the share's x-coordinate, a distinct value
// in 1..255 chosen at random.
//
// The one exception is n = k = 1, where no splitting is possible: Split then
// returns a single share that is a copy of the secret itself, with no
// x-coordinate (as Vault does for a threshold of 1). Callers with a threshold
// of 1 use that share directly as the secret and never call Combine.
//
// secret is not retained or modified; the caller owns the returned shares.
func Split(secret []byte, n, k int) ([][]byte, error) {
	if len(secret) == 0 {
		return nil, errors.New("split: secret is empty")
	}
	if n == 1 && k == 1 {
		return [][]byte{append([]byte(nil), secret...)}, nil
	}
	switch {
	case k < 2:
		return nil, fmt.Errorf("split: threshold %d is below 2 (a threshold of 1 needs exactly 1 share)", k)
	case n < k:
		return nil, fmt.Errorf("split: %d shares are fewer than the threshold %d", n, k)
	case n > MaxShares:
		return nil, fmt.Errorf("split: %d shares exceed the maximum of %d", n, MaxShares)
	}

	xs, err := randomXs(n)
	if err != nil {
		return nil, fmt.Errorf("split: %w", err)
	}
	shares := make([][]byte, n)
	for i := range shares {
		shares[i] = make([]byte, len(secret)+1)
		shares[i][len(secret)] = xs[i]
	}

	// coeffs[0] is the secret byte; coeffs[1..k-1] are uniformly random.
	coeffs := make([]byte, k)
	defer clear(coeffs)
	for j, s := range secret {
		coeffs[0] = s
		rand.Read(coeffs[1:]) // never fails (Go 1.24+); see docs/architecture.md
		for i, x := range xs {
			shares[i][j] = evaluate(coeffs, x)
		}
	}
	return shares, nil
}

// randomXs returns n distinct values from 1..255 in random order: a prefix
// of a Fisher-Yates shuffle of all 255 candidates.
func randomXs(n int) ([]byte, error) {
	var all [MaxShares]byte
	for i := range all {
		all[i] = byte(i + 1)
	}
	var buf [2]byte
	for i := range n {
		// Pick j uniformly from [i, 255) by rejection sampling.
		span := uint16(MaxShares - i)
		limit := (65536 / uint32(span)) * uint32(span)
		var r uint32
		for {
			rand.Read(buf[:]) // never fails (Go 1.24+); see docs/architecture.md
			r = uint32(buf[0])<<8 | uint32(buf[1])
			if r < limit {
				break
			}
		}
		j := i + int(r%uint32(span))
		all[i], all[j] = all[j], all[i]
	}
	return append([]byte(nil), all[:n]...), nil
}

// evaluate returns the polynomial with the given coefficients (constant term
// first) at x, by Horner's rule.
func evaluate(coeffs []byte, x byte) byte {
	var r byte
	for i := len(coeffs) - 1; i >= 0; i-- {
		r = gfAdd(gfMul(r, x), coeffs[i])
	}
	return r
}

// Combine reconstructs a secret from shares produced by Split. It needs at
// least 2 shares of equal length (at least 2 bytes each) with distinct,
// non-zero x-coordinates; otherwise it returns an error wrapping
// ErrInvalidShares. Combine cannot know the threshold: given fewer shares
// than the threshold, or shares of different splits, it returns a wrong
// value, so callers verify the result (the barrier does so by decrypting).
//
// The shares are not retained or modified; the caller owns the result.
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) < 2 {
		return nil, fmt.Errorf("combine: %w: need at least 2 shares, got %d", ErrInvalidShares, len(shares))
	}
	if len(shares) > MaxShares {
		return nil, fmt.Errorf("combine: %w: %d shares exceed the maximum of %d", ErrInvalidShares, len(shares), MaxShares)
	}
	size := len(shares[0])
	if size < 2 {
		return nil, fmt.Errorf("combine: %w: share 1 is %d bytes, need at least 2", ErrInvalidShares, size)
	}
	xs := make([]byte, len(shares))
	var seen [256]bool
	for i, s := range shares {
		if len(s) != size {
			return nil, fmt.Errorf("combine: %w: share %d is %d bytes, share 1 is %d", ErrInvalidShares, i+1, len(s), size)
		}
		x := s[size-1]
		if x == 0 {
			return nil, fmt.Errorf("combine: %w: share %d has x-coordinate 0", ErrInvalidShares, i+1)
		}
		if seen[x] {
			return nil, fmt.Errorf("combine: %w: share %d repeats an x-coordinate", ErrInvalidShares, i+1)
		}
		seen[x] = true
		xs[i] = x
	}

	// Lagrange interpolation at 0: secret = sum_i y_i * l_i(0), where
	// l_i(0) = prod_{j != i} x_j / (x_j - x_i), and subtraction is XOR.
	basis := make([]byte, len(xs))
	for i, xi := range xs {
		num, den := byte(1), byte(1)
		for j, xj := range xs {
			if i == j {
				continue
			}
			num = gfMul(num, xj)
			den = gfMul(den, gfAdd(xj, xi))
		}
		basis[i] = gfMul(num, gfInv(den))
	}
	secret := make([]byte, size-1)
	for b := range secret {
		var acc byte
		for i, s := range shares {
			acc = gfAdd(acc, gfMul(s[b], basis[i]))
		}
		secret[b] = acc
	}
	return secret, nil
}
