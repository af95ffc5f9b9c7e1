package userpass

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are Argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultParams follow OWASP's Argon2id recommendation (19 MiB, 2 passes,
// one lane).
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
	// Limits on stored parameters, so a damaged or hostile record cannot
	// make one login allocate gigabytes.
	maxMemory = 256 * 1024
	maxTime   = 16
)

var b64 = base64.RawStdEncoding

// hashPassword returns the PHC string of password with a random salt:
// $argon2id$v=19$m=M,t=T,p=P$SALT$HASH.
func hashPassword(password string, p Params) string {
	salt := make([]byte, saltLen)
	rand.Read(salt) // never fails (Go 1.24+); see docs/architecture.md
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

type parsedHash struct {
	p         Params
	salt, key []byte
}

// parseHash parses a PHC argon2id string; errors never include it.
func parseHash(s string) (parsedHash, error) {
	var h parsedHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, fmt.Errorf("password hash: not an argon2id v19 hash")
	}
	var m, t, p uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return h, fmt.Errorf("password hash: malformed parameters")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return h, fmt.Errorf("password hash: malformed parameter %s", k)
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		default:
			return h, fmt.Errorf("password hash: unknown parameter")
		}
	}
	if m < 8 || m > maxMemory || t < 1 || t > maxTime || p < 1 || p > 16 || m < 8*p {
		return h, fmt.Errorf("password hash: parameters out of range")
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return h, fmt.Errorf("password hash: malformed salt")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return h, fmt.Errorf("password hash: malformed key")
	}
	h.p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	h.salt, h.key = salt, key
	return h, nil
}

// verify runs Argon2id over password with h's salt and parameters and
// compares in constant time.
func (h parsedHash) verify(password string) bool {
	got := argon2.IDKey([]byte(password), h.salt, h.p.Time, h.p.Memory, h.p.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1
}
