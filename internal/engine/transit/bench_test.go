package transit

import (
	"crypto"
	"crypto/rsa"
	"testing"
)

// Per-operation costs of the key types and modes, without HTTP.
func BenchmarkKeyOps(b *testing.B) {
	msg := make([]byte, 64)
	for _, c := range []struct {
		name, typ  string
		derived    bool
		convergent bool
	}{
		{"aes256-gcm96", typeAES256GCM96, false, false},
		{"aes256-gcm96-derived", typeAES256GCM96, true, false},
		{"aes256-gcm96-convergent", typeAES256GCM96, true, true},
		{"rsa-2048", typeRSA2048, false, false},
		{"rsa-4096", typeRSA4096, false, false},
	} {
		k, err := newKey("b", c.typ, testNow())
		if err != nil {
			b.Fatal(err)
		}
		k.Derived, k.Convergent = c.derived, c.convergent
		o := encOpts{context: []byte("tenant")}
		ct, _, err := k.encrypt(0, msg, o)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("encrypt/"+c.name, func(b *testing.B) {
			for b.Loop() {
				k.encrypt(0, msg, o)
			}
		})
		b.Run("decrypt/"+c.name, func(b *testing.B) {
			for b.Loop() {
				k.decrypt(ct, o)
			}
		})
	}
	for _, c := range []struct {
		typ string
		o   signOpts
	}{
		{typeECDSAP384, signOpts{hash: crypto.SHA384}},
		{typeRSA2048, signOpts{hash: crypto.SHA256, salt: rsa.PSSSaltLengthAuto}},
		{typeRSA4096, signOpts{hash: crypto.SHA256, salt: rsa.PSSSaltLengthAuto}},
	} {
		k, err := newKey("b", c.typ, testNow())
		if err != nil {
			b.Fatal(err)
		}
		kv := k.Versions["1"]
		b.Run("sign/"+c.typ, func(b *testing.B) {
			for b.Loop() {
				k.signWith(kv, c.o, msg)
			}
		})
	}
	b.Run("create/rsa-4096", func(b *testing.B) {
		for b.Loop() {
			newKey("b", typeRSA4096, testNow())
		}
	})
}
