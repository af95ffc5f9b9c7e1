package userpass_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/auth/userpass"
)

var decodeB32 = userpass.DecodeB32

// FuzzParseHash: the stored-hash parser never panics, and whatever it
// accepts is an argon2id v19 string with bounded parameters.
func FuzzParseHash(f *testing.F) {
	f.Add(userpass.HashPassword("pw", userpass.Params{Memory: 64, Time: 1, Threads: 1}))
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if userpass.ParseHashOK(s) && !strings.HasPrefix(s, "$argon2id$v=19$") {
			t.Fatalf("accepted %q", s)
		}
	})
}
