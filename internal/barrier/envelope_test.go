package barrier

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"testing"
)

func benchAEAD(b *testing.B) cipher.AEAD {
	b.Helper()
	key := make([]byte, KeySize)
	rand.Read(key)
	aead, err := newAEAD(key)
	if err != nil {
		b.Fatal(err)
	}
	return aead
}

var benchSizes = []int{100, 1024, 64 * 1024}

func BenchmarkEncrypt(b *testing.B) {
	aead := benchAEAD(b)
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			pt := make([]byte, size)
			b.SetBytes(int64(size))
			for b.Loop() {
				sealEnvelope(aead, 1, "logical/1234/data/app", pt)
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	aead := benchAEAD(b)
	lookup := func(uint32) cipher.AEAD { return aead }
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			env := sealEnvelope(aead, 1, "logical/1234/data/app", make([]byte, size))
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := openEnvelope(lookup, "logical/1234/data/app", env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestEnvelopeLayout(t *testing.T) {
	key := make([]byte, KeySize)
	rand.Read(key)
	aead, err := newAEAD(key)
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte("plaintext")
	env := sealEnvelope(aead, 0x01020304, "p", pt)
	if want := headerSize + nonceSize + len(pt) + tagSize; len(env) != want {
		t.Fatalf("envelope is %d bytes, want %d", len(env), want)
	}
	if env[0] != 1 || env[1] != 1 || env[2] != 2 || env[3] != 3 || env[4] != 4 {
		t.Errorf("header = %x, want 0101020304", env[:5])
	}
	again := sealEnvelope(aead, 0x01020304, "p", pt)
	if string(again[5:17]) == string(env[5:17]) {
		t.Error("two envelopes share a nonce")
	}
}
