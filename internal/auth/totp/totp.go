// Package totp implements RFC 6238 time-based one-time passwords (SHA-1,
// 30-second steps, 6 digits by default) for multi-factor login. It never
// logs a secret or a code, and Check accepts only exact digit strings: no
// spaces, signs or separators.
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6238 default, used as an HMAC
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash"
	"net/url"
	"strconv"
	"time"
)

// Key is one enrolled TOTP secret with its parameters.
type Key struct {
	Secret    []byte `json:"secret"`
	Algorithm string `json:"algorithm"` // "SHA1", "SHA256" or "SHA512"
	Digits    int    `json:"digits"`    // 6 or 8
	Period    int    `json:"period"`    // seconds
	Skew      int    `json:"skew"`      // steps accepted either side (default 1)
}

// Generate returns a new key with a random 160-bit secret and the RFC 6238
// defaults.
func Generate() Key {
	s := make([]byte, 20)
	rand.Read(s) // never fails (Go 1.24+); see docs/architecture.md
	return Key{Secret: s, Algorithm: "SHA1", Digits: 6, Period: 30, Skew: 1}
}

// Base32 returns the secret as authenticator apps expect it (unpadded).
func (k Key) Base32() string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(k.Secret)
}

// URL returns the otpauth:// provisioning URL for issuer and account.
func (k Key) URL(issuer, account string) string {
	q := url.Values{}
	q.Set("secret", k.Base32())
	q.Set("issuer", issuer)
	q.Set("algorithm", k.Algorithm)
	q.Set("digits", strconv.Itoa(k.Digits))
	q.Set("period", strconv.Itoa(k.Period))
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: q.Encode()}
	return u.String()
}

func (k Key) newHash() (func() hash.Hash, error) {
	switch k.Algorithm {
	case "", "SHA1":
		return sha1.New, nil
	case "SHA256":
		return sha256.New, nil
	case "SHA512":
		return sha512.New, nil
	}
	return nil, fmt.Errorf("totp: unsupported algorithm %q", k.Algorithm)
}

func (k Key) period() int64 {
	if k.Period <= 0 {
		return 30
	}
	return int64(k.Period)
}

func (k Key) digits() int {
	if k.Digits != 8 {
		return 6
	}
	return 8
}

// Code returns the code for time step counter (RFC 4226 HOTP).
func (k Key) Code(counter uint64) (string, error) {
	h, err := k.newHash()
	if err != nil {
		return "", err
	}
	mac := hmac.New(h, k.Secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1_000_000)
	if k.digits() == 8 {
		mod = 100_000_000
	}
	return fmt.Sprintf("%0*d", k.digits(), bin%mod), nil
}

// Step is the time step counter at t.
func (k Key) Step(t time.Time) uint64 { return uint64(t.Unix() / k.period()) }

// Check verifies code at time now within ±Skew steps. It returns the step
// that matched, so the caller can refuse that step (and earlier ones) next
// time; ok is false for a wrong or malformed code. Every candidate step is
// compared in constant time.
func (k Key) Check(code string, now time.Time) (step uint64, ok bool) {
	if len(code) != k.digits() {
		return 0, false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return 0, false
		}
	}
	skew := k.Skew
	if skew < 0 || skew > 2 {
		skew = 1
	}
	cur := int64(k.Step(now))
	for d := -skew; d <= skew; d++ {
		c := cur + int64(d)
		if c < 0 {
			continue
		}
		want, err := k.Code(uint64(c))
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			step, ok = uint64(c), true
		}
	}
	return step, ok
}
