// Package tokenfmt generates and recognises Keyward's credential strings: a
// short type prefix, 256 random bits in base62 and a base62 CRC32 checksum,
// so a scanner can tell a real Keyward token from a look-alike offline.
// Batch tokens have the same prefix-body-checksum shape with a body of any
// length up to MaxBatchLen: the base62 encoding of a sealed payload (see
// EncodeBatch). It never logs and keeps no state.
package tokenfmt

import (
	"crypto/rand"
	"hash/crc32"
	"math/big"
	"strings"
)

// Prefixes of Keyward credential kinds.
const (
	Service  = "kws_" // service token
	Batch    = "kwb_" // batch token: variable length, see EncodeBatch
	Wrapping = "kww_" // response-wrapping token
	Recovery = "kwr_" // root token from generate-root
	SecretID = "kwi_" // AppRole secret_id (reserved)
)

const (
	alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	bodyLen  = 43 // 62^43 > 2^256
	sumLen   = 6  // 62^6 > 2^32
	// Len is the length of every token but batch tokens: prefix, body and
	// checksum.
	Len = 4 + bodyLen + sumLen
	// MaxBatchLen bounds a batch token, as the HTTP layer bounds any token
	// header; MinBatchLen is the shortest one Valid accepts.
	MaxBatchLen = 4096
	MinBatchLen = Len
)

var prefixes = []string{Service, Batch, Wrapping, Recovery, SecretID}

// Generate returns a new token with the given prefix, using crypto/rand.
func Generate(prefix string) string {
	var b [32]byte
	rand.Read(b[:]) // never fails (Go 1.24+); see docs/architecture.md
	body := encode(new(big.Int).SetBytes(b[:]), bodyLen)
	return prefix + body + checksum(prefix+body)
}

// Valid reports whether s is a well-formed Keyward token: a known prefix,
// the right length (for batch tokens, between MinBatchLen and MaxBatchLen)
// and alphabet, and a matching checksum.
func Valid(s string) bool {
	if strings.HasPrefix(s, Batch) {
		if len(s) < MinBatchLen || len(s) > MaxBatchLen {
			return false
		}
	} else if len(s) != Len {
		return false
	}
	known := false
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			known = true
			break
		}
	}
	if !known {
		return false
	}
	for i := 4; i < len(s); i++ {
		if digits[s[i]] < 0 {
			return false
		}
	}
	return checksum(s[:len(s)-sumLen]) == s[len(s)-sumLen:]
}

// Prefix returns the prefix of a token-shaped string, or "".
func Prefix(s string) string {
	if len(s) < 4 {
		return ""
	}
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return p
		}
	}
	return ""
}

func checksum(s string) string {
	var out [sumLen]byte
	v := crc32.ChecksumIEEE([]byte(s))
	for i := sumLen - 1; i >= 0; i-- {
		out[i] = alphabet[v%62]
		v /= 62
	}
	return string(out[:])
}

// digits maps a byte to its base62 value, -1 outside the alphabet.
var digits = func() (d [256]int8) {
	for i := range d {
		d[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		d[alphabet[i]] = int8(i)
	}
	return d
}()

func encode(n *big.Int, width int) string {
	out := make([]byte, width)
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = alphabet[mod.Int64()]
	}
	return string(out)
}

// blockChars[k] is the number of base62 digits that encode a block of k
// bytes: the fewest n with 62^n >= 256^k. Every count is distinct, so a
// digit count names its block size.
var blockChars = [9]int{0, 2, 3, 5, 6, 7, 9, 10, 11}

// EncodeBatch returns the batch token carrying payload: the Batch prefix,
// payload in base62 (8-byte blocks of 11 digits, a shorter last block in
// fewer) and the checksum. It returns "" when the token would be longer than
// MaxBatchLen. payload is opaque here; the token store seals it.
func EncodeBatch(payload []byte) string {
	n := len(payload) / 8 * 11
	n += blockChars[len(payload)%8]
	if 4+n+sumLen > MaxBatchLen || 4+n+sumLen < MinBatchLen {
		return ""
	}
	out := make([]byte, 4, 4+n+sumLen)
	copy(out, Batch)
	for src := payload; len(src) > 0; {
		k := min(8, len(src))
		var v uint64
		for _, b := range src[:k] {
			v = v<<8 | uint64(b)
		}
		start := len(out)
		out = out[:start+blockChars[k]]
		for i := len(out) - 1; i >= start; i-- {
			out[i] = alphabet[v%62]
			v /= 62
		}
		src = src[k:]
	}
	return string(out) + checksum(string(out))
}

// DecodeBatch returns the payload of a batch token made by EncodeBatch. ok
// is false unless s is Valid, has the Batch prefix and its body is a
// canonical encoding (each value has exactly one), so two different strings
// never yield the same payload.
func DecodeBatch(s string) (payload []byte, ok bool) {
	if !strings.HasPrefix(s, Batch) || !Valid(s) {
		return nil, false
	}
	body := s[4 : len(s)-sumLen]
	out := make([]byte, 0, len(body)/11*8+8)
	for len(body) > 0 {
		n := min(11, len(body))
		k := 0
		for k = 1; k <= 8 && blockChars[k] != n; k++ {
		}
		if k > 8 {
			return nil, false
		}
		var v uint64
		for i := 0; i < n; i++ {
			d := digits[body[i]]
			// v*62+d must fit in 64 bits.
			if v > (^uint64(0)-uint64(d))/62 {
				return nil, false
			}
			v = v*62 + uint64(d)
		}
		if k < 8 && v>>(8*k) != 0 {
			return nil, false
		}
		for i := k - 1; i >= 0; i-- {
			out = append(out, byte(v>>(8*i)))
		}
		body = body[n:]
	}
	return out, true
}
