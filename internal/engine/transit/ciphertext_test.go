package transit

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseCiphertext(t *testing.T) {
	blob := []byte("nonce-and-sealed-bytes")
	v, got, err := parseCiphertext(formatCiphertext(7, blob))
	if err != nil || v != 7 || !bytes.Equal(got, blob) {
		t.Fatalf("round trip: v=%d blob=%q err=%v", v, got, err)
	}
	// OpenBao and Vault ciphertexts have this shape.
	if v, _, err := parseCiphertext("vault:v12:AAECAw=="); err != nil || v != 12 {
		t.Fatalf("vault:v12: v=%d err=%v", v, err)
	}
	for _, bad := range []string{
		"", "vault:", "vault:v", "vault:v1", "vault:v:AAAA", "vault:v0:AAAA", "vault:v-1:AAAA",
		"vault:v1x:AAAA", "vault:v+1:AAAA", "vault:v9999999999:AAAA", "vault:v1:not base64!",
		"vault:v1:AAA", "vaulT:v1:AAAA", "v1:AAAA", " vault:v1:AAAA",
	} {
		if _, _, err := parseCiphertext(bad); err == nil {
			t.Errorf("parseCiphertext(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "AAAA") {
			t.Errorf("parseCiphertext(%q): error echoes input: %v", bad, err)
		}
	}
}

func FuzzParseCiphertext(f *testing.F) {
	f.Add("vault:v1:AAECAw==")
	f.Add("vault:v12:")
	f.Add("vault:v0:AA")
	f.Fuzz(func(t *testing.T, s string) {
		v, blob, err := parseCiphertext(s)
		if err != nil {
			return
		}
		if v < 1 {
			t.Fatalf("version %d accepted", v)
		}
		// Leading zeros in the version are accepted (as Vault's parse
		// does), so compare what was read, not the text.
		v2, blob2, err := parseCiphertext(formatCiphertext(v, blob))
		if err != nil || v2 != v || !bytes.Equal(blob2, blob) {
			t.Fatalf("%q: re-formatted ciphertext reads back as v%d %x (%v)", s, v2, blob2, err)
		}
	})
}

func TestKeyVersions(t *testing.T) {
	for _, typ := range []string{typeAES256GCM96, typeChaCha20Poly1305} {
		k, err := newKey("k", typ, testNow())
		if err != nil {
			t.Fatal(err)
		}
		ct1, v, err := k.encrypt(0, []byte("hello"), encOpts{aad: []byte("aad")})
		if err != nil || v != 1 || !strings.HasPrefix(ct1, "vault:v1:") {
			t.Fatalf("%s: encrypt: %q %d %v", typ, ct1, v, err)
		}
		if _, _, err := k.decrypt(ct1, encOpts{aad: []byte("other")}); err == nil {
			t.Fatalf("%s: wrong associated data decrypted", typ)
		}
		if err := k.rotate(testNow()); err != nil {
			t.Fatal(err)
		}
		if pt, _, err := k.decrypt(ct1, encOpts{aad: []byte("aad")}); err != nil || string(pt) != "hello" {
			t.Fatalf("%s: v1 after rotate: %q %v", typ, pt, err)
		}
		// A ciphertext relabelled to the other version fails authentication.
		if _, _, err := k.decrypt(strings.Replace(ct1, "vault:v1:", "vault:v2:", 1), encOpts{aad: []byte("aad")}); err == nil {
			t.Fatalf("%s: relabelled ciphertext decrypted", typ)
		}
		k.MinDecryptionVersion = 2
		if _, _, err := k.decrypt(ct1, encOpts{aad: []byte("aad")}); err == nil {
			t.Fatalf("%s: v1 decrypted below min_decryption_version", typ)
		}
		if _, _, err := k.decrypt("vault:v3:AAAA", encOpts{}); err == nil {
			t.Fatalf("%s: version too new accepted", typ)
		}
		k.MinEncryptionVersion = 2
		if _, _, err := k.encrypt(1, []byte("x"), encOpts{}); err == nil {
			t.Fatalf("%s: encrypted below min_encryption_version", typ)
		}
	}
}
