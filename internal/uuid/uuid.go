// Package uuid formats 128-bit identifiers the way Vault clients expect
// ids to look (8-4-4-4-12 lower-case hex), and makes random version 4 ones
// from crypto/rand. It is a leaf.
package uuid

import "crypto/rand"

// New returns a random RFC 9562 version 4 UUID. crypto/rand.Read never
// returns an error (Go 1.24+: the program crashes instead), so neither can
// New.
func New() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return Format(u)
}

// Format writes b as 8-4-4-4-12 lower-case hex, as it is: ids derived from
// a hash keep their bits, so they stay what they always were.
func Format(b [16]byte) string {
	const hexdig = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j] = hexdig[c>>4]
		s[j+1] = hexdig[c&0x0f]
		j += 2
	}
	return string(s[:])
}
