package transit

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"sync"
	"testing"
)

var (
	fuzzWrapOnce sync.Once
	fuzzWrapKey  *rsa.PrivateKey
)

// testWrappingKey is an RSA-2048 wrapping key for the parser tests (the
// parser takes the size from the key; the engine's own is RSA-4096).
func testWrappingKey(t testing.TB) *rsa.PrivateKey {
	fuzzWrapOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		fuzzWrapKey = k
	})
	return fuzzWrapKey
}

// wrapForImport builds an import blob as Vault's key wrapping guide
// describes: a fresh AES-256 key under RSA-OAEP(SHA-256), then the target
// under that key with KWP.
func wrapForImport(t testing.TB, pub *rsa.PublicKey, target []byte) []byte {
	t.Helper()
	eph := make([]byte, 32)
	rand.Read(eph)
	wrappedEph, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, eph, nil)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := wrapKWP(eph, target)
	if err != nil {
		t.Fatal(err)
	}
	return append(wrappedEph, wrapped...)
}

func TestParseImportBlob(t *testing.T) {
	priv := testWrappingKey(t)
	target := bytes.Repeat([]byte{0x42}, 32)
	blob := wrapForImport(t, &priv.PublicKey, target)
	got, err := parseImportBlob(priv, sha256.New, blob)
	if err != nil || !bytes.Equal(got, target) {
		t.Fatalf("parse: %x %v", got, err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, bad := range map[string][]byte{
		"empty":        nil,
		"only rsa":     blob[:priv.Size()],
		"cut kwp":      blob[:len(blob)-8],
		"flipped kwp":  append(bytes.Clone(blob[:len(blob)-1]), blob[len(blob)-1]^1),
		"flipped oaep": append([]byte{blob[0] ^ 1}, blob[1:]...),
		"other key":    wrapForImport(t, &other.PublicKey, target),
	} {
		if _, err := parseImportBlob(priv, sha256.New, bad); err == nil {
			t.Errorf("%s: accepted", name)
		} else if err != errUnwrap {
			t.Errorf("%s: error %v tells more than errUnwrap", name, err)
		}
	}
	// An ephemeral key of another size is refused.
	short, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, &priv.PublicKey, make([]byte, 16), nil)
	w, _ := wrapKWP(make([]byte, 16), target)
	if _, err := parseImportBlob(priv, sha256.New, append(short, w...)); err == nil {
		t.Fatal("AES-128 ephemeral key accepted")
	}
}

// A wrapped target always comes back whole; the same blob with any bit
// flipped never opens, and fails with the one fixed error (no oracle, no
// input echoed).
func FuzzParseImportBlob(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef"), uint16(0))
	f.Add([]byte{1}, uint16(300))
	f.Add(bytes.Repeat([]byte{9}, 300), uint16(600))
	f.Fuzz(func(t *testing.T, target []byte, flip uint16) {
		if len(target) == 0 || len(target) > 4096 {
			return
		}
		priv := testWrappingKey(t)
		blob := wrapForImport(t, &priv.PublicKey, target)
		got, err := parseImportBlob(priv, sha256.New, blob)
		if err != nil || !bytes.Equal(got, target) {
			t.Fatalf("round trip: %v", err)
		}
		i := int(flip) % (8 * len(blob))
		blob[i/8] ^= 1 << (i % 8)
		if _, err := parseImportBlob(priv, sha256.New, blob); err == nil {
			t.Fatalf("blob with bit %d flipped opened", i)
		} else if err != errUnwrap {
			t.Fatalf("error %q is not the one unwrap error", err)
		}
	})
}

// importedVersion takes each type's target format and refuses another
// type's.
func TestImportedVersionTypes(t *testing.T) {
	raw := bytes.Repeat([]byte{1}, 32)
	if kv, _, err := importedVersion(typeAES256GCM96, raw, 0); err != nil || !bytes.Equal(kv.Material, raw) || len(kv.HMACKey) != 32 {
		t.Fatalf("aes: %v", err)
	}
	if kv, size, err := importedVersion(typeHMAC, bytes.Repeat([]byte{2}, 48), 0); err != nil || size != 48 || len(kv.HMACKey) != 48 || kv.Material != nil {
		t.Fatalf("hmac: %v", err)
	}
	for _, c := range []struct{ typ string }{{typeRSA2048}, {typeEd25519}, {typeECDSAP256}, {typeHMAC}} {
		if _, _, err := importedVersion(c.typ, raw[:16], 0); err == nil {
			t.Errorf("%s: 16 raw bytes accepted", c.typ)
		}
	}
	if _, _, err := importedVersion(typeChaCha20Poly1305, raw[:31], 0); err == nil {
		t.Error("chacha20: 31 bytes accepted")
	}
}
