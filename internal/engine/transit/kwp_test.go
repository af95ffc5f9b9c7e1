package transit

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 5649 section 6's two examples.
func TestKWPVectors(t *testing.T) {
	kek := unhex(t, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
	for _, c := range []struct{ key, wrapped string }{
		{"c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
		{"466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
	} {
		got, err := wrapKWP(kek, unhex(t, c.key))
		if err != nil || hex.EncodeToString(got) != c.wrapped {
			t.Fatalf("wrapKWP(%s) = %x, %v; want %s", c.key, got, err, c.wrapped)
		}
		back, err := unwrapKWP(kek, unhex(t, c.wrapped))
		if err != nil || hex.EncodeToString(back) != c.key {
			t.Fatalf("unwrapKWP(%s) = %x, %v; want %s", c.wrapped, back, err, c.key)
		}
	}
}

// The inner function W and its inverse are RFC 3394's: with RFC 3394's
// default initial value they give sections 4.1 and 4.6, and that wrapping
// is refused by unwrapKWP (its initial value is not KWP's).
func TestKWInnerVectors(t *testing.T) {
	iv := [8]byte{0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6}
	for _, c := range []struct{ kek, key, wrapped string }{
		{"000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff", "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"},
		{"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f",
			"28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21"},
	} {
		kek, key := unhex(t, c.kek), unhex(t, c.key)
		b, err := aes.NewCipher(kek)
		if err != nil {
			t.Fatal(err)
		}
		got := w(b, iv, key)
		if hex.EncodeToString(got) != c.wrapped {
			t.Fatalf("W(%s) = %x, want %s", c.key, got, c.wrapped)
		}
		if back := wInverse(b, got); !bytes.Equal(back[:8], iv[:]) || !bytes.Equal(back[8:], key) {
			t.Fatalf("W^-1(%s) = %x", c.wrapped, back)
		}
		if _, err := unwrapKWP(kek, got); err == nil {
			t.Fatal("an RFC 3394 wrapping unwrapped as KWP")
		}
	}
}

// Every length round-trips; any flipped bit, a cut, or the wrong KEK
// fails.
func TestKWPRoundTripAndDamage(t *testing.T) {
	kek := bytes.Repeat([]byte{7}, 32)
	for n := 1; n <= 70; n++ {
		key := bytes.Repeat([]byte{byte(n)}, n)
		wrapped, err := wrapKWP(kek, key)
		if err != nil || len(wrapped) != 8+8*((n+7)/8) && !(n <= 8 && len(wrapped) == 16) {
			t.Fatalf("len %d: wrapped %d bytes, %v", n, len(wrapped), err)
		}
		if back, err := unwrapKWP(kek, wrapped); err != nil || !bytes.Equal(back, key) {
			t.Fatalf("len %d: round trip: %v", n, err)
		}
		for i := range wrapped {
			bad := bytes.Clone(wrapped)
			bad[i] ^= 0x10
			if _, err := unwrapKWP(kek, bad); err == nil {
				t.Fatalf("len %d: flipped byte %d unwrapped", n, i)
			}
		}
		if _, err := unwrapKWP(kek, wrapped[:len(wrapped)-8]); err == nil && len(wrapped) > 16 {
			t.Fatalf("len %d: cut wrapping unwrapped", n)
		}
		if _, err := unwrapKWP(bytes.Repeat([]byte{8}, 32), wrapped); err == nil {
			t.Fatalf("len %d: wrong kek unwrapped", n)
		}
	}
	if _, err := wrapKWP(kek, nil); err == nil {
		t.Fatal("empty key wrapped")
	}
}

// What unwraps, wraps back to the same bytes (KWP is deterministic), and
// what wraps, unwraps to the key.
func FuzzKWP(f *testing.F) {
	f.Add(bytes.Repeat([]byte{1}, 32), []byte("key"))
	f.Add(bytes.Repeat([]byte{2}, 16), bytes.Repeat([]byte{3}, 40))
	f.Fuzz(func(t *testing.T, kek, data []byte) {
		if l := len(kek); l != 16 && l != 24 && l != 32 {
			return
		}
		if key, err := unwrapKWP(kek, data); err == nil {
			again, err := wrapKWP(kek, key)
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("unwrapped key wraps to %x, want %x (%v)", again, data, err)
			}
		}
		if len(data) == 0 {
			return
		}
		wrapped, err := wrapKWP(kek, data)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := unwrapKWP(kek, wrapped); err != nil || !bytes.Equal(back, data) {
			t.Fatalf("wrap then unwrap: %v", err)
		}
	})
}
