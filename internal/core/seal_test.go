package core_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage/faulty"
	"github.com/keyward/keyward/internal/storage/inmem"
)

func newSealed(t *testing.T, shares, threshold int) (*core.Core, *core.InitResult) {
	t.Helper()
	c, err := core.New(withKV(core.Config{Storage: inmem.New()}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	res, err := c.Initialize(context.Background(), core.InitParams{Shares: shares, Threshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	return c, res
}

func unseal(t *testing.T, c *core.Core, data map[string]any) (*core.SealStatus, error) {
	t.Helper()
	resp, err := c.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: "sys/unseal", Data: data})
	if err != nil {
		return nil, err
	}
	var st core.SealStatus
	if err := json.Unmarshal(resp.Raw, &st); err != nil {
		t.Fatal(err)
	}
	return &st, nil
}

// T29: abusive unseal shares give clear errors and no progress.
func TestUnsealShareAbuse(t *testing.T) {
	c, res := newSealed(t, 5, 3)
	_, other := newSealed(t, 5, 3)
	good := revealShares(res.Shares)
	s0 := hex.EncodeToString(good[0])
	tests := []struct {
		name string
		key  string
		msg  string
	}{
		{"not encoded", "not-a-key!", "hex or base64"},
		{"truncated", s0[:len(s0)-2], "wrong length"},
		{"extended", s0 + "00", "wrong length"},
		{"mangled base64", base64.StdEncoding.EncodeToString(good[0])[:10] + "%%%", "hex or base64"},
		{"empty", "", "key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := unseal(t, c, map[string]any{"key": tt.key})
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("unseal(%s) = %v, want an error mentioning %q", tt.name, err, tt.msg)
			}
		})
	}
	// Progress: one good share, then the same share again.
	st, err := unseal(t, c, map[string]any{"key": s0})
	if err != nil || st.Progress != 1 {
		t.Fatalf("first share: %+v, %v", st, err)
	}
	// The same share again, even in another encoding, answers the unchanged
	// progress (as Vault does) instead of failing the operator's command.
	if st, err := unseal(t, c, map[string]any{"key": base64.StdEncoding.EncodeToString(good[0])}); err != nil || st.Progress != 1 {
		t.Fatalf("repeated share = %+v, %v; want progress 1 and no error", st, err)
	}
	// A reset naming another attempt's nonce is refused; one without a
	// nonce (what `vault operator unseal -reset` sends) resets.
	if _, err := unseal(t, c, map[string]any{"reset": true, "nonce": "guess"}); err == nil {
		t.Fatal("reset with a wrong nonce succeeded")
	}
	if st, err := unseal(t, c, map[string]any{"reset": true}); err != nil || st.Progress != 0 {
		t.Fatalf("reset without a nonce = %+v, %v; want progress 0", st, err)
	}
	unseal(t, c, map[string]any{"key": s0})
	st, _ = unseal(t, c, map[string]any{"key": hex.EncodeToString(good[1])})
	if st.Progress != 2 {
		t.Fatalf("progress = %d, want 2", st.Progress)
	}
	// A share from another cluster completes the threshold but the key is
	// wrong: a clear error, still sealed, progress reset.
	// (One whose x-coordinate, its last byte, differs from those already
	// submitted: the other cluster's split drew its own.)
	foreign := other.Shares[0].Reveal()
	for _, f := range revealShares(other.Shares) {
		if x := f[len(f)-1]; x != good[0][len(good[0])-1] && x != good[1][len(good[1])-1] {
			foreign = f
			break
		}
	}
	_, err = unseal(t, c, map[string]any{"key": hex.EncodeToString(foreign)})
	if err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Fatalf("foreign share: %v, want 'not valid'", err)
	}
	if !c.Sealed() {
		t.Fatal("unsealed with a foreign share")
	}
	st, _ = c.SealStatus(context.Background())
	if st.Progress != 0 {
		t.Fatalf("progress after failure = %d, want 0", st.Progress)
	}
	// The right nonce resets; then three good shares unseal, and more are
	// harmless.
	unseal(t, c, map[string]any{"key": hex.EncodeToString(good[3])})
	st, _ = c.SealStatus(context.Background())
	if _, err := unseal(t, c, map[string]any{"reset": true, "nonce": st.Nonce}); err != nil {
		t.Fatalf("reset with the nonce: %v", err)
	}
	for _, s := range good[2:5] {
		if _, err := unseal(t, c, map[string]any{"key": hex.EncodeToString(s)}); err != nil {
			t.Fatal(err)
		}
	}
	if c.Sealed() {
		t.Fatal("still sealed after three good shares")
	}
	if st, err := unseal(t, c, map[string]any{"key": hex.EncodeToString(good[0])}); err != nil || st.Sealed {
		t.Fatalf("extra share after unseal: %+v, %v", st, err)
	}
}

// T33: a full disk fails writes with a clear 5xx, reads keep working,
// nothing is half-written, and writes work again once space frees.
func TestFullDisk(t *testing.T) {
	disk := faulty.New(inmem.New())
	c, tok := newCoreWith(t, core.Config{Storage: disk})
	write := func(v string) error {
		_, err := call(t, c, tok, logical.UpdateOperation, "secret/data/app", map[string]any{"data": map[string]any{"v": v}})
		return err
	}
	read := func() string {
		resp := mustCall(t, c, tok, logical.ReadOperation, "secret/data/app", nil)
		return resp.Data["data"].(map[string]any)["v"].(string)
	}
	if err := write("one"); err != nil {
		t.Fatal(err)
	}
	disk.FailWrites(syscall.ENOSPC)
	err := write("two")
	if err == nil {
		t.Fatal("write succeeded on a full disk")
	}
	if status, _, _ := logical.StatusOf(err); status < 500 {
		t.Fatalf("full disk status %d, want 5xx", status)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("error %v does not carry ENOSPC for the operator log", err)
	}
	if got := read(); got != "one" {
		t.Fatalf("read on a full disk = %q, want the last good version", got)
	}
	if _, err := call(t, c, tok, logical.UpdateOperation, "auth/token/create", map[string]any{"policies": []any{"default"}}); err == nil {
		t.Error("token create succeeded on a full disk")
	}
	disk.Recover()
	if err := write("three"); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	resp := mustCall(t, c, tok, logical.ReadOperation, "secret/metadata/app", nil)
	if v := resp.Data["current_version"]; v != 2 {
		t.Fatalf("current_version = %v, want 2: the failed write left a trace", v)
	}
	if got := read(); got != "three" {
		t.Fatalf("read after recovery = %q", got)
	}
}
