package userpass

import "encoding/base32"

// ParseHashOK exposes the PHC parser to the fuzz test.
func ParseHashOK(s string) bool {
	_, err := parseHash(s)
	return err == nil
}

// HashPassword exposes hashing to the fuzz test.
var HashPassword = hashPassword

func decodeB32ForTest(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

// DecodeB32 decodes an unpadded base32 TOTP secret.
var DecodeB32 = decodeB32ForTest
