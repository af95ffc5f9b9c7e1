package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"path"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// SOPS (getsops/sops 3.13, hcvault key source) keeps each file's 32-byte
// data key encrypted by a transit key. Observed against a Keyward server
// through a logging proxy, every request it sends is one of two, through
// hashicorp/vault/api's Logical().WriteWithContext:
//
//	PUT /v1/<engine_path>/encrypt/<key_name>  {"plaintext":"<base64 of the 32-byte data key>"}
//	PUT /v1/<engine_path>/decrypt/<key_name>  {"ciphertext":"vault:vN:..."}
//
// with headers X-Vault-Token, X-Vault-Request: true, Accept-Encoding: gzip
// and no Content-Type. It reads data.ciphertext (a string, stored in the
// file as hc_vault[].enc) and data.plaintext (a string, standard base64),
// and on failure prints the client's error (status and "errors"). This
// test replays those shapes and checks what sops relies on.
func TestTransitSOPSRequests(t *testing.T) {
	n := nodetest.Start(t)
	root := n.Client(t)
	if err := root.Sys().Mount("transit", &vault.MountInput{Type: "transit"}); err != nil {
		t.Fatalf("mount: %v", err)
	}
	ctx := context.Background()

	// sops's own paths: path.Join(engine_path, "encrypt"|"decrypt", key_name).
	encrypt := func(c *vault.Client, key string, dataKey []byte) (string, error) {
		s, err := c.Logical().WriteWithContext(ctx, path.Join("transit", "encrypt", key),
			map[string]interface{}{"plaintext": base64.StdEncoding.EncodeToString(dataKey)})
		if err != nil {
			return "", err
		}
		if s == nil || s.Data == nil {
			t.Fatalf("encrypt %s: empty response (sops: transit backend is empty)", key)
		}
		ct, ok := s.Data["ciphertext"].(string)
		if !ok {
			t.Fatalf("encrypt %s: data.ciphertext is %T, sops needs a string", key, s.Data["ciphertext"])
		}
		return ct, nil
	}
	decrypt := func(c *vault.Client, key, ct string) ([]byte, error) {
		s, err := c.Logical().WriteWithContext(ctx, path.Join("transit", "decrypt", key),
			map[string]interface{}{"ciphertext": ct})
		if err != nil {
			return nil, err
		}
		if s == nil || s.Data == nil {
			t.Fatalf("decrypt %s: empty response", key)
		}
		pt, ok := s.Data["plaintext"].(string)
		if !ok {
			t.Fatalf("decrypt %s: data.plaintext is %T, sops needs a string", key, s.Data["plaintext"])
		}
		b, err := base64.StdEncoding.DecodeString(pt)
		if err != nil {
			t.Fatalf("decrypt %s: plaintext is not standard base64: %v", key, err)
		}
		return b, nil
	}
	dataKey := func() []byte {
		b := make([]byte, 32)
		rand.Read(b)
		return b
	}

	// sops -e on a key nobody created: Vault's encrypt creates it.
	k1 := dataKey()
	ct1, err := encrypt(root, "sops", k1)
	if err != nil {
		t.Fatalf("encrypt on a new key: %v", err)
	}
	if !strings.HasPrefix(ct1, "vault:v1:") {
		t.Fatalf("ciphertext %q", ct1)
	}
	if got, err := decrypt(root, "sops", ct1); err != nil || !bytes.Equal(got, k1) {
		t.Fatalf("sops -d: %x %v, want %x", got, err, k1)
	}

	// The token sops is usually given: update on the two paths only.
	if err := root.Sys().PutPolicy("sops-only", `
path "transit/encrypt/sops" { capabilities = ["update"] }
path "transit/decrypt/sops" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"sops-only"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := root.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok.Auth.ClientToken)

	// After a rotation old files still decrypt; sops rotate writes v2.
	if _, err := root.Logical().Write("transit/keys/sops/rotate", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := decrypt(c, "sops", ct1); err != nil || !bytes.Equal(got, k1) {
		t.Fatalf("decrypt v1 after rotate: %v", err)
	}
	k2 := dataKey()
	ct2, err := encrypt(c, "sops", k2)
	if err != nil || !strings.HasPrefix(ct2, "vault:v2:") {
		t.Fatalf("encrypt after rotate: %q %v", ct2, err)
	}
	if got, err := decrypt(c, "sops", ct2); err != nil || !bytes.Equal(got, k2) {
		t.Fatalf("decrypt v2: %v", err)
	}

	// Failures come back as the client's ResponseError, which sops prints.
	var re *vault.ResponseError
	if _, err := encrypt(c, "other", k1); !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || len(re.Errors) == 0 {
		t.Fatalf("encrypt with no grant: %v, want 403 with errors", err)
	}
	tampered := ct2[:len(ct2)-4] + "AAAA"
	if tampered == ct2 {
		tampered = ct2[:len(ct2)-4] + "BBBB"
	}
	if _, err := decrypt(c, "sops", tampered); !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || len(re.Errors) == 0 {
		t.Fatalf("decrypt of a tampered data key: %v, want 400 with errors", err)
	}

	// The raw shape: PUT, no Content-Type, gzip accepted, as the client
	// sends it; the answer is plain JSON sops can decode.
	body := `{"plaintext":"` + base64.StdEncoding.EncodeToString(k1) + `"}`
	req, err := http.NewRequest(http.MethodPut, n.URL+"/v1/transit/encrypt/sops", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", tok.Auth.ClientToken)
	req.Header.Set("X-Vault-Request", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("raw PUT without Content-Type: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
