package seal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/sensitive"
)

// req sends one JSON request to a test server.
func req(t *testing.T, method, url, token string, body any) map[string]any {
	t.Helper()
	raw, _ := json.Marshal(body)
	r, _ := http.NewRequest(method, url, bytes.NewReader(raw))
	r.Header.Set("X-Vault-Token", token)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %v", method, url, resp.StatusCode, out)
	}
	return out
}

// transitServer starts a Keyward server with transit at seal-transit/ and
// a key "k".
func transitServer(t *testing.T) *nodetest.Node {
	t.Helper()
	n := nodetest.Start(t)
	root := n.RootToken.Reveal()
	req(t, "POST", n.URL+"/v1/sys/mounts/seal-transit", root, map[string]any{"type": "transit"})
	req(t, "POST", n.URL+"/v1/seal-transit/keys/k", root, map[string]any{})
	return n
}

func TestTransitWrapUnwrapWithKeyward(t *testing.T) {
	n := transitServer(t)
	s, err := seal.NewTransit(seal.TransitConfig{Address: n.URL, Token: n.RootToken, KeyName: "k", MountPath: "seal-transit", DisableRenewal: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	key := bytes.Repeat([]byte{0x5a}, 32)
	b, err := s.Wrap(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b.Ciphertext, key) || !strings.HasPrefix(string(b.Ciphertext), "vault:v1:") {
		t.Fatalf("ciphertext %q", b.Ciphertext)
	}
	got, err := s.Unwrap(ctx, b)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Unwrap = %x, %v", got, err)
	}
	// A damaged ciphertext or another seal's blob never unwraps.
	bad := *b
	bad.Ciphertext = append(bytes.Clone(b.Ciphertext[:len(b.Ciphertext)-4]), "AAAA"...)
	if _, err := s.Unwrap(ctx, &bad); err == nil {
		t.Fatal("a damaged ciphertext unwrapped")
	}
	other := *b
	other.Type = "pkcs11"
	if _, err := s.Unwrap(ctx, &other); err == nil {
		t.Fatal("a pkcs11 blob was handed to the transit server")
	}
}

// The seal renews a renewable token at half its TTL.
func TestTransitRenewsItsToken(t *testing.T) {
	n := transitServer(t)
	out := req(t, "POST", n.URL+"/v1/auth/token/create", n.RootToken.Reveal(), map[string]any{"ttl": "8s", "policies": []string{"default"}})
	tok := out["auth"].(map[string]any)["client_token"].(string)
	s, err := seal.NewTransit(seal.TransitConfig{Address: n.URL, Token: sensitive.NewString(tok), KeyName: "k", MountPath: "seal-transit"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clocktest.Eventually(t, "the seal to renew its token", func() bool {
		d := req(t, "GET", n.URL+"/v1/auth/token/lookup-self", tok, nil)["data"].(map[string]any)
		v, ok := d["last_renewal_time"].(float64)
		return ok && v > 0
	})
}
