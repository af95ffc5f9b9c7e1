package httpapi

import "crypto/rand"

// newRequestID returns a random UUID (version 4) from crypto/rand.
func newRequestID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	const hexdig = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j] = hexdig[b>>4]
		s[j+1] = hexdig[b&0x0f]
		j += 2
	}
	return string(s[:])
}
