package seal_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/sensitive"
)

func TestBlobRoundTrip(t *testing.T) {
	in := &seal.Blob{Version: 1, Type: "pkcs11", KeyID: "k", Ciphertext: []byte{1, 2, 3}, Nonce: []byte{4, 5}}
	raw, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	out, err := seal.DecodeBlob(raw)
	if err != nil {
		t.Fatal(err)
	}
	if out.Type != in.Type || out.KeyID != in.KeyID || !bytes.Equal(out.Ciphertext, in.Ciphertext) || !bytes.Equal(out.Nonce, in.Nonce) {
		t.Errorf("DecodeBlob(Encode(%+v)) = %+v", in, out)
	}
}

func TestDecodeBlobRefusesDamage(t *testing.T) {
	for _, tc := range []struct{ name, raw string }{
		{"empty", ""},
		{"not json", "xyz"},
		{"other version", `{"version":2,"type":"transit","key_id":"k","ciphertext":"AQ=="}`},
		{"unknown type", `{"version":1,"type":"rot13","key_id":"k","ciphertext":"AQ=="}`},
		{"no ciphertext", `{"version":1,"type":"transit","key_id":"k"}`},
		{"unknown field", `{"version":1,"type":"transit","key_id":"k","ciphertext":"AQ==","x":1}`},
		{"trailing data", `{"version":1,"type":"transit","key_id":"k","ciphertext":"AQ=="} {}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := seal.DecodeBlob([]byte(tc.raw)); !errors.Is(err, seal.ErrDamaged) {
				t.Errorf("DecodeBlob(%q) = %v, want ErrDamaged", tc.raw, err)
			}
		})
	}
}

// FuzzDecodeBlob: whatever DecodeBlob accepts encodes back to something
// that decodes to the same blob, and it never accepts an entry without
// ciphertext or of an unknown type.
func FuzzDecodeBlob(f *testing.F) {
	f.Add([]byte(`{"version":1,"type":"transit","key_id":"seal-key","ciphertext":"dmF1bHQ6djE6YWJj"}`))
	f.Add([]byte(`{"version":1,"type":"pkcs11","key_id":"k","ciphertext":"AQID","nonce":"AAAAAAAAAAAAAAAA"}`))
	f.Add([]byte(`{"version":1,"type":"transit","key_id":"k","ciphertext":"AQ=="} {}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := seal.DecodeBlob(raw)
		if err != nil {
			return
		}
		if len(b.Ciphertext) == 0 || (b.Type != "transit" && b.Type != "pkcs11") || b.Version != 1 {
			t.Fatalf("DecodeBlob(%q) accepted %+v", raw, b)
		}
		again, err := b.Encode()
		if err != nil {
			t.Fatalf("Encode of an accepted blob: %v", err)
		}
		b2, err := seal.DecodeBlob(again)
		if err != nil || b2.Type != b.Type || b2.KeyID != b.KeyID || !bytes.Equal(b2.Ciphertext, b.Ciphertext) || !bytes.Equal(b2.Nonce, b.Nonce) {
			t.Fatalf("round trip of %q changed it: %+v -> %+v (%v)", raw, b, b2, err)
		}
	})
}

// A transit server that refuses the token: the error names the status and
// the server's message, never the token.
func TestTransitErrorsNeverHoldTheToken(t *testing.T) {
	const canary = "kw-canary-token-7f3a9c"
	var gotToken string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotToken = r.Header.Get("X-Vault-Token")
		if r.URL.Path != "/v1/seal-transit/encrypt/my-key" {
			t.Errorf("path %s", r.URL.Path)
		}
		if r.Header.Get("X-Vault-Namespace") != "team-a" {
			t.Errorf("namespace header %q", r.Header.Get("X-Vault-Namespace"))
		}
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"errors":["permission denied"]}`))
	}))
	defer srv.Close()
	s, err := seal.NewTransit(seal.TransitConfig{Address: srv.URL, Token: sensitive.NewString(canary), KeyName: "my-key",
		MountPath: "/seal-transit/", Namespace: "team-a", DisableRenewal: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Wrap(context.Background(), []byte("0123456789abcdef0123456789abcdef"))
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Wrap error = %v, want the 403 and the server's message", err)
	}
	if strings.Contains(err.Error(), canary) {
		t.Fatal("the error holds the token")
	}
	if gotToken != canary {
		t.Fatalf("the server got token %q", gotToken)
	}
}

func TestTransitConfigValidate(t *testing.T) {
	err := seal.TransitConfig{Address: "ftp://x", KeyName: "a/b", TLSClientCert: "c"}.Validate()
	for _, want := range []string{"address", "key_name", "token", "tls_client_key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a problem naming %s", err, want)
		}
	}
}

func TestPKCS11ConfigValidate(t *testing.T) {
	err := seal.PKCS11Config{Slot: "x", Mechanism: "CKM_AES_CBC"}.Validate()
	for _, want := range []string{"lib", "slot", "pin", "key_label", "mechanism"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a problem naming %s", err, want)
		}
	}
	ok := seal.PKCS11Config{Lib: "/x.so", Slot: "0x1", PIN: sensitive.NewString("1"), KeyLabel: "k", Mechanism: "0x1087"}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", ok, err)
	}
}
