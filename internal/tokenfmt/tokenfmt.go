// Package tokenfmt generates and recognises Keyward's credential strings: a
// short type prefix, 256 random bits in base62 and a base62 CRC32 checksum,
// so a scanner can tell a real Keyward token from a look-alike offline. It
// never logs and keeps no state.
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
	Batch    = "kwb_" // batch token (reserved)
	Wrapping = "kww_" // response-wrapping token
	Recovery = "kwr_" // root token from generate-root
	SecretID = "kwi_" // AppRole secret_id (reserved)
)

const (
	alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	bodyLen  = 43 // 62^43 > 2^256
	sumLen   = 6  // 62^6 > 2^32
	// Len is the length of every token: prefix, body and checksum.
	Len = 4 + bodyLen + sumLen
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
// the right length and alphabet, and a matching checksum.
func Valid(s string) bool {
	if len(s) != Len {
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
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return false
		}
	}
	return checksum(s[:Len-sumLen]) == s[Len-sumLen:]
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
	return encode(new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(s)))), sumLen)
}

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
