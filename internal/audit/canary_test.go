package audit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// T38: canaries planted through every endpoint family never reach the
// audit log, the server log or an error body in any common encoding, and
// sys/audit-hash reproduces the HMACs the log holds.
func TestCanarySweep(t *testing.T) {
	n := nodetest.StartWith(t, nodetest.Options{Shares: 3, Threshold: 2})
	c := client(t, n)
	ctx := context.Background()
	p := logPath(t)
	p2 := logPath(t)
	enableFile(t, c, "file", p, nil)
	enableFile(t, c, "acc", p2, map[string]string{"hmac_accessor": "false", "elide_list_responses": "true"})

	var canaries []string
	plant := func() string {
		v := "cnry-" + rand.Text()
		canaries = append(canaries, v)
		return v
	}
	var bodies bytes.Buffer
	record := func(err error) {
		if err != nil {
			bodies.WriteString(err.Error())
		}
	}
	// KV writes and reads, including nested values, numbers as strings,
	// and failing requests carrying canaries.
	for i := range 200 {
		path := fmt.Sprintf("app%d", i)
		data := map[string]any{"password": plant(), "nested": map[string]any{"list": []any{plant(), plant()}}}
		if err := kvPut(c, path, data); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(ctx, "secret/data/"+path, nil); err != nil {
			t.Fatal(err)
		}
		_, err := c.Write(ctx, "secret/data/"+path, map[string]any{"bogus": plant()})
		record(err)
	}
	// Tokens: created, looked up, used, renewed; the returned token and
	// accessor are canaries too.
	for range 100 {
		s, err := c.Write(ctx, "auth/token/create", map[string]any{"policies": []string{"default"}, "meta": map[string]any{"note": "ci"}})
		if err != nil {
			t.Fatal(err)
		}
		tok := s.Auth.ClientToken
		canaries = append(canaries, tok)
		_, err = c.Write(ctx, "auth/token/lookup", map[string]any{"token": tok})
		record(err)
		tc, _ := api.New(api.Config{Address: n.URL, Token: api.NewToken(tok)})
		_, err = tc.Read(ctx, "secret/data/app1", nil) // denied
		record(err)
		_, err = tc.Read(ctx, "auth/token/lookup-self", nil)
		record(err)
	}
	// An invalid token in the header.
	bad := plant()
	bc, _ := api.New(api.Config{Address: n.URL, Token: api.NewToken(bad)})
	_, err := bc.Read(ctx, "secret/data/app1", nil)
	record(err)
	// Policies holding canaries in their text.
	for i := range 50 {
		pol := fmt.Sprintf("# %s\npath \"secret/data/%s\" { capabilities = [\"read\"] }\n", plant(), plant())
		_, err := c.Write(ctx, fmt.Sprintf("sys/policies/acl/p%d", i), map[string]any{"policy": pol})
		record(err)
	}
	// audit-hash inputs.
	for range 50 {
		_, err := c.Write(ctx, "sys/audit-hash/file", map[string]any{"input": plant()})
		record(err)
	}
	// Unseal shares on a Shamir server: seal, then unseal with the shares
	// (and a wrong one first).
	for _, sh := range n.Shares {
		canaries = append(canaries, hex.EncodeToString(sh), base64.StdEncoding.EncodeToString(sh))
	}
	canaries = append(canaries, n.RootToken.Reveal())
	if err := c.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = c.Unseal(ctx, hex.EncodeToString(bytes.Repeat([]byte{7}, len(n.Shares[0]))))
	record(err)
	_, err = c.Unseal(ctx, hex.EncodeToString(n.Shares[2])) // completes the threshold with a bad share: reset
	record(err)
	for _, sh := range n.Shares[:2] {
		if _, err := c.Unseal(ctx, hex.EncodeToString(sh)); err != nil {
			t.Fatal(err)
		}
	}
	// Once unsealed again the devices are restored and keep recording.
	if err := kvPut(c, "after-unseal", map[string]any{"v": plant()}); err != nil {
		t.Fatal(err)
	}
	// A raw error body from a missing mount (paths are not secret and are
	// logged readable, so no canary goes in the path).
	resp, err := http.Get(n.URL + "/v1/nomount/x")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bodies.Write(b)
	}
	if len(canaries) < 1000 {
		t.Fatalf("only %d canaries planted", len(canaries))
	}

	logA, _ := os.ReadFile(p)
	logB, _ := os.ReadFile(p2)
	artefacts := map[string][]byte{"audit file": logA, "audit acc": logB, "server log": n.Logs.Bytes(), "error bodies": bodies.Bytes()}
	if !bytes.Contains(logA, []byte(`"path":"secret/data/after-unseal"`)) {
		t.Fatal("device not restored after unseal")
	}
	forms := map[string]bool{}
	lengths := map[int]bool{}
	for _, cn := range canaries {
		for _, f := range []string{cn, base64.StdEncoding.EncodeToString([]byte(cn)), base64.RawURLEncoding.EncodeToString([]byte(cn)), hex.EncodeToString([]byte(cn))} {
			forms[f] = true
			lengths[len(f)] = true
		}
	}
	for name, a := range artefacts {
		for l := range lengths {
			for i := 0; i+l <= len(a); i++ {
				if forms[string(a[i:i+l])] {
					t.Errorf("%s holds a canary form of %d bytes at offset %d", name, l, i)
					break
				}
			}
		}
	}
	// The HMAC the log holds for a value is what audit-hash returns.
	for _, v := range canaries[:20] {
		s, err := c.Write(ctx, "sys/audit-hash/file", map[string]any{"input": v})
		if err != nil {
			t.Fatal(err)
		}
		if h := s.Data["hash"].(string); !bytes.Contains(logA, []byte(`"`+h+`"`)) {
			t.Errorf("audit-hash of a planted value is not in the log")
		}
	}
}
