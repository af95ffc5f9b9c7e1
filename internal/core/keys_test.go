package core_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/faulty"
	"github.com/keyward/keyward/internal/storage/inmem"
	"github.com/keyward/keyward/internal/tokenfmt"
)

// keyCore is an unsealed core with 5 shares (threshold 3) and a settable
// clock, over storage the test may break.
type keyCore struct {
	c      *core.Core
	root   string
	shares [][]byte
	clock  *clocktest.Clock
}

func newKeyCore(t *testing.T, backend storage.Backend) *keyCore {
	t.Helper()
	clock := clocktest.New(time.Now())
	c, err := core.New(withKV(core.Config{Storage: backend, Now: clock.Now}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	res, err := c.Initialize(context.Background(), core.InitParams{Shares: 5, Threshold: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Unseal(context.Background(), res.Shares[:3]); err != nil {
		t.Fatal(err)
	}
	return &keyCore{c: c, root: res.RootToken.Reveal(), shares: revealShares(res.Shares), clock: clock}
}

// anon sends a token-less request (a sys/rekey or sys/generate-root route)
// and decodes its bare JSON body.
func (k *keyCore) anon(t *testing.T, op logical.Operation, path string, data map[string]any) (map[string]any, error) {
	t.Helper()
	resp, err := k.c.HandleRequest(context.Background(), &logical.Request{ID: "t", Operation: op, Path: path, Data: data,
		Connection: &logical.Connection{RemoteAddr: "127.0.0.1"}})
	if err != nil || resp == nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Raw, &m); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", op, path, err)
	}
	return m, nil
}

// authed sends a request with token tok and returns its data.
func (k *keyCore) authed(t *testing.T, tok string, op logical.Operation, path string, data map[string]any) (map[string]any, error) {
	t.Helper()
	resp, err := call(t, k.c, tok, op, path, data)
	if err != nil || resp == nil {
		return nil, err
	}
	return resp.Data, nil
}

// unsealWith seals the core and unseals it with shares.
func (k *keyCore) unsealWith(shares [][]byte) error {
	k.c.Seal()
	return k.c.Unseal(context.Background(), wrapShares(shares))
}

func hexAll(shares [][]byte) []string {
	out := make([]string, len(shares))
	for i, s := range shares {
		out[i] = hex.EncodeToString(s)
	}
	return out
}

func decodeKeys(t *testing.T, v any) [][]byte {
	t.Helper()
	var out [][]byte
	switch l := v.(type) {
	case []any:
		for _, e := range l {
			b, err := hex.DecodeString(e.(string))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	case []string:
		for _, e := range l {
			b, err := hex.DecodeString(e)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	default:
		t.Fatalf("keys = %T %v, want a list", v, v)
	}
	return out
}

func wantErr(t *testing.T, err error, status int, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %d %q", status, msg)
	}
	got, text, _ := logical.StatusOf(err)
	if got != status || !strings.Contains(text, msg) {
		t.Fatalf("error = %d %q, want %d containing %q", got, text, status, msg)
	}
}

// Bad rekey requests get a clear 400 and start nothing.
func TestRekeyInitRefusals(t *testing.T) {
	k := newKeyCore(t, inmem.New())
	for _, tc := range []struct {
		name string
		data map[string]any
		msg  string
	}{
		{"pgp keys", map[string]any{"secret_shares": 3, "secret_threshold": 2, "pgp_keys": []any{"keybase:x", "a", "b"}}, "pgp_keys is not supported"},
		{"backup", map[string]any{"secret_shares": 3, "secret_threshold": 2, "Backup": true}, "backup"},
		{"unknown field", map[string]any{"secret_shares": 3, "secret_threshold": 2, "secret_share": 4}, "unknown field"},
		{"no shares", map[string]any{}, "secret_shares"},
		{"threshold above shares", map[string]any{"secret_shares": 2, "secret_threshold": 3}, "secret_threshold"},
		{"threshold one of many", map[string]any{"secret_shares": 3, "secret_threshold": 1}, "greater than one"},
		{"stored shares", map[string]any{"secret_shares": 3, "secret_threshold": 2, "stored_shares": 2}, "stored_shares"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.anon(t, logical.UpdateOperation, "sys/rekey/init", tc.data)
			wantErr(t, err, http.StatusBadRequest, tc.msg)
		})
	}
	st, err := k.anon(t, logical.ReadOperation, "sys/rekey/init", nil)
	if err != nil || st["started"] != false || st["required"] != float64(3) {
		t.Fatalf("status after refusals = %v, %v; want not started, required 3", st, err)
	}
}

// A rekey without verification: a threshold of the current shares yields
// the new ones, which replace the old at once.
func TestRekeyReplacesShares(t *testing.T) {
	k := newKeyCore(t, inmem.New())
	// What the Vault client sends, stored_shares and "Backup" included.
	st, err := k.anon(t, logical.UpdateOperation, "sys/rekey/init", map[string]any{"secret_shares": 3, "secret_threshold": 2,
		"stored_shares": 0, "pgp_keys": nil, "Backup": false, "require_verification": false})
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := st["nonce"].(string)
	if st["started"] != true || st["n"] != float64(3) || st["t"] != float64(2) || st["required"] != float64(3) || nonce == "" {
		t.Fatalf("init = %v", st)
	}
	_, err = k.anon(t, logical.UpdateOperation, "sys/rekey/init", map[string]any{"secret_shares": 3, "secret_threshold": 2})
	wantErr(t, err, http.StatusBadRequest, "already in progress")

	old := hexAll(k.shares)
	_, err = k.anon(t, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": old[0], "nonce": "wrong"})
	wantErr(t, err, http.StatusBadRequest, "nonce")
	_, err = k.anon(t, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": old[0]})
	wantErr(t, err, http.StatusBadRequest, "nonce")
	if st, err = k.anon(t, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": old[0], "nonce": nonce}); err != nil || st["progress"] != float64(1) {
		t.Fatalf("first share = %v, %v", st, err)
	}
	_, err = k.anon(t, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": old[0], "nonce": nonce})
	wantErr(t, err, http.StatusBadRequest, "already provided")
	k.anon(t, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": old[1], "nonce": nonce})
	done, err := k.anon(t, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": old[2], "nonce": nonce})
	if err != nil || done["complete"] != true || done["verification_required"] != false {
		t.Fatalf("last share = %v, %v", done, err)
	}
	fresh := decodeKeys(t, done["keys"])
	if len(fresh) != 3 || len(done["keys_base64"].([]any)) != 3 {
		t.Fatalf("new keys = %v", done)
	}
	if st, _ := k.anon(t, logical.ReadOperation, "sys/rekey/init", nil); st["started"] != false {
		t.Fatalf("rekey still in progress after completion: %v", st)
	}
	if err := k.unsealWith(k.shares[:3]); err == nil {
		t.Fatal("the old shares still unseal")
	}
	if err := k.unsealWith(fresh[1:]); err != nil {
		t.Fatalf("the new shares do not unseal: %v", err)
	}
	if cfg, _ := k.c.SealStatus(context.Background()); cfg.N != 3 || cfg.T != 2 {
		t.Fatalf("seal status after rekey = %+v, want 3 shares, threshold 2", cfg)
	}
}

// With verification the new shares are candidates only: the old ones stay
// valid until a threshold of new ones comes back, a wrong set resets the
// verification, and a cancel keeps the old shares.
func TestRekeyVerification(t *testing.T) {
	k := newKeyCore(t, inmem.New())
	start := func() string {
		st, err := k.anon(t, logical.UpdateOperation, "sys/rekey/init", map[string]any{"secret_shares": 4, "secret_threshold": 2, "require_verification": true})
		if err != nil {
			t.Fatal(err)
		}
		return st["nonce"].(string)
	}
	submitOld := func(nonce string) map[string]any {
		var res map[string]any
		for _, s := range hexAll(k.shares[2:5]) {
			var err error
			if res, err = k.anon(t, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": s, "nonce": nonce}); err != nil {
				t.Fatal(err)
			}
		}
		return res
	}
	nonce := start()
	res := submitOld(nonce)
	vnonce, _ := res["verification_nonce"].(string)
	if res["complete"] != true || res["verification_required"] != true || vnonce == "" {
		t.Fatalf("update with verification = %v", res)
	}
	fresh := decodeKeys(t, res["keys"])
	_, err := k.anon(t, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": hexAll(k.shares)[0], "nonce": nonce})
	wantErr(t, err, http.StatusBadRequest, "verify")

	vs, err := k.anon(t, logical.ReadOperation, "sys/rekey/verify", nil)
	if err != nil || vs["started"] != true || vs["nonce"] != vnonce || vs["t"] != float64(2) || vs["n"] != float64(4) {
		t.Fatalf("verify status = %v, %v", vs, err)
	}
	_, err = k.anon(t, logical.UpdateOperation, "sys/rekey/verify", map[string]any{"key": hex.EncodeToString(fresh[0]), "nonce": nonce})
	wantErr(t, err, http.StatusBadRequest, "nonce")
	// Old shares are not the new ones: refused at the threshold, progress reset.
	k.anon(t, logical.UpdateOperation, "sys/rekey/verify", map[string]any{"key": hexAll(k.shares)[0], "nonce": vnonce})
	_, err = k.anon(t, logical.UpdateOperation, "sys/rekey/verify", map[string]any{"key": hexAll(k.shares)[1], "nonce": vnonce})
	wantErr(t, err, http.StatusBadRequest, "verification failed")
	// A restart draws a new verification nonce.
	vs, err = k.anon(t, logical.DeleteOperation, "sys/rekey/verify", nil)
	if err != nil || vs["nonce"] == vnonce || vs["progress"] != float64(0) {
		t.Fatalf("verify restart = %v, %v", vs, err)
	}
	vnonce = vs["nonce"].(string)
	vs, err = k.anon(t, logical.UpdateOperation, "sys/rekey/verify", map[string]any{"key": hex.EncodeToString(fresh[3]), "nonce": vnonce})
	if err != nil || vs["progress"] != float64(1) {
		t.Fatalf("first new share = %v, %v", vs, err)
	}
	// Still unverified: the old key is the one in force (checked without
	// sealing, which would drop the rekey).
	if st, _ := k.c.SealStatus(context.Background()); st.N != 5 {
		t.Fatalf("seal config changed before verification: %+v", st)
	}
	vs, err = k.anon(t, logical.UpdateOperation, "sys/rekey/verify", map[string]any{"key": hex.EncodeToString(fresh[0]), "nonce": vnonce})
	if err != nil || vs["complete"] != true || vs["nonce"] != vnonce {
		t.Fatalf("verification = %v, %v", vs, err)
	}
	if err := k.unsealWith(k.shares[:3]); err == nil {
		t.Fatal("old shares unseal after a verified rekey")
	}
	if err := k.unsealWith(fresh[:2]); err != nil {
		t.Fatalf("new shares: %v", err)
	}

	// A rekey cancelled during verification leaves the current shares valid.
	k.shares = fresh
	nonce, err2 := func() (string, error) {
		st, err := k.anon(t, logical.UpdateOperation, "sys/rekey/init", map[string]any{"secret_shares": 3, "secret_threshold": 2, "require_verification": true})
		if err != nil {
			return "", err
		}
		return st["nonce"].(string), nil
	}()
	if err2 != nil {
		t.Fatal(err2)
	}
	for _, s := range hexAll(fresh[:2]) {
		if _, err := k.anon(t, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": s, "nonce": nonce}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := k.anon(t, logical.DeleteOperation, "sys/rekey/init", map[string]any{"nonce": nonce}); err != nil {
		t.Fatal(err)
	}
	_, err = k.anon(t, logical.ReadOperation, "sys/rekey/verify", nil)
	wantErr(t, err, http.StatusBadRequest, "no rekey")
	if err := k.unsealWith(fresh[2:]); err != nil {
		t.Fatalf("current shares after a cancelled verification: %v", err)
	}
}

// A token-less cancel needs the nonce while the rekey is fresh (Vault
// 1.17.18's rule); a stale one can be cleared without it; a wrong nonce is
// always refused; a token holder cancels sys/rotate/root without one.
func TestRekeyCancel(t *testing.T) {
	k := newKeyCore(t, inmem.New())
	start := func() string {
		st, err := k.anon(t, logical.UpdateOperation, "sys/rekey/init", map[string]any{"secret_shares": 1, "secret_threshold": 1})
		if err != nil {
			t.Fatal(err)
		}
		return st["nonce"].(string)
	}
	started := func() bool {
		st, _ := k.anon(t, logical.ReadOperation, "sys/rekey/init", nil)
		return st["started"] == true
	}
	nonce := start()
	_, err := k.anon(t, logical.DeleteOperation, "sys/rekey/init", nil)
	wantErr(t, err, http.StatusBadRequest, "requires its nonce")
	_, err = k.anon(t, logical.DeleteOperation, "sys/rekey/init", map[string]any{"nonce": "guess"})
	wantErr(t, err, http.StatusBadRequest, "nonce does not match")
	if !started() {
		t.Fatal("a refused cancel stopped the rekey")
	}
	if _, err := k.anon(t, logical.DeleteOperation, "sys/rekey/init", map[string]any{"nonce": nonce}); err != nil || started() {
		t.Fatalf("cancel with the nonce: %v, started %v", err, started())
	}
	start()
	k.clock.Add(11 * time.Minute)
	if _, err := k.anon(t, logical.DeleteOperation, "sys/rekey/init", nil); err != nil || started() {
		t.Fatalf("cancel of a stale rekey without nonce: %v, started %v", err, started())
	}
	start()
	if _, err := k.authed(t, k.root, logical.DeleteOperation, "sys/rotate/root/init", nil); err != nil || started() {
		t.Fatalf("authenticated cancel: %v, started %v", err, started())
	}
	if _, err := k.anon(t, logical.DeleteOperation, "sys/rekey/init", nil); err != nil {
		t.Fatalf("cancel with nothing in progress: %v", err)
	}
}

// A rekey whose final write fails leaves the old shares valid and hands out
// no new ones: never neither.
func TestRekeyWriteFailureKeepsOldShares(t *testing.T) {
	disk := faulty.New(inmem.New())
	k := newKeyCore(t, disk)
	st, err := k.anon(t, logical.UpdateOperation, "sys/rekey/init", map[string]any{"secret_shares": 3, "secret_threshold": 2})
	if err != nil {
		t.Fatal(err)
	}
	nonce := st["nonce"].(string)
	old := hexAll(k.shares)
	for _, s := range old[:2] {
		if _, err := k.anon(t, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": s, "nonce": nonce}); err != nil {
			t.Fatal(err)
		}
	}
	disk.FailWrites(syscall.EIO)
	res, err := k.anon(t, logical.UpdateOperation, "sys/rekey/update", map[string]any{"key": old[2], "nonce": nonce})
	if err == nil {
		t.Fatalf("rekey succeeded on a failing disk: %v", res)
	}
	if status, _, _ := logical.StatusOf(err); status < 500 || !errors.Is(err, syscall.EIO) {
		t.Fatalf("error = %v (status %d), want a 5xx carrying EIO", err, status)
	}
	disk.Recover()
	if err := k.unsealWith(k.shares[1:4]); err != nil {
		t.Fatalf("old shares after a failed rekey: %v", err)
	}
}

// sys/rotate/root/* is the same ceremony with a token and the data
// envelope (what `bao operator rotate-keys` uses); it needs sudo.
func TestRotateRootWithToken(t *testing.T) {
	k := newKeyCore(t, inmem.New())
	_, err := k.authed(t, "", logical.ReadOperation, "sys/rotate/root/init", nil)
	wantErr(t, err, http.StatusForbidden, "permission denied")
	mustCall(t, k.c, k.root, logical.UpdateOperation, "sys/policies/acl/nosudo", map[string]any{"policy": `path "sys/rotate/root/*" { capabilities = ["create", "read", "update", "delete"] }`})
	tok := mustCall(t, k.c, k.root, logical.UpdateOperation, "auth/token/create", map[string]any{"policies": []any{"nosudo"}}).Auth.ClientToken.Reveal()
	_, err = k.authed(t, tok, logical.ReadOperation, "sys/rotate/root/init", nil)
	wantErr(t, err, http.StatusForbidden, "permission denied")

	st, err := k.authed(t, k.root, logical.UpdateOperation, "sys/rotate/root/init", map[string]any{"secret_shares": 2, "secret_threshold": 2, "require_verification": true})
	if err != nil || st["started"] != true {
		t.Fatalf("init = %v, %v", st, err)
	}
	nonce := st["nonce"].(string)
	var res map[string]any
	for _, s := range hexAll(k.shares[:3]) {
		if res, err = k.authed(t, k.root, logical.UpdateOperation, "sys/rotate/root/update", map[string]any{"key": s, "nonce": nonce}); err != nil {
			t.Fatal(err)
		}
	}
	fresh := decodeKeys(t, res["keys"])
	vnonce := res["verification_nonce"].(string)
	for _, s := range fresh {
		if res, err = k.authed(t, k.root, logical.UpdateOperation, "sys/rotate/root/verify", map[string]any{"key": hex.EncodeToString(s), "nonce": vnonce}); err != nil {
			t.Fatal(err)
		}
	}
	if res["complete"] != true {
		t.Fatalf("verify = %v", res)
	}
	if err := k.unsealWith(fresh); err != nil {
		t.Fatalf("new shares: %v", err)
	}
}

// sys/rotate and sys/rotate/keyring both rotate; the alias is authorized as
// sys/rotate too, so a deny there covers both names.
func TestKeyringRotatePaths(t *testing.T) {
	k := newKeyCore(t, inmem.New())
	for i, p := range []string{"sys/rotate", "sys/rotate/keyring"} {
		mustCall(t, k.c, k.root, logical.UpdateOperation, p, nil)
		got := mustCall(t, k.c, k.root, logical.ReadOperation, "sys/key-status", nil).Data["term"]
		if got != uint32(i+2) {
			t.Fatalf("term after PUT %s = %v, want %d", p, got, i+2)
		}
	}
	_, err := call(t, k.c, k.root, logical.UpdateOperation, "sys/rotate/keyring", map[string]any{"force": true})
	wantErr(t, err, http.StatusBadRequest, "unknown field")

	mustCall(t, k.c, k.root, logical.UpdateOperation, "sys/policies/acl/alias", map[string]any{"policy": `
path "sys/rotate/keyring" { capabilities = ["update", "sudo"] }
path "sys/rotate" { capabilities = ["deny"] }`})
	mustCall(t, k.c, k.root, logical.UpdateOperation, "sys/policies/acl/nosudo", map[string]any{"policy": `
path "sys/rotate*" { capabilities = ["update"] }`})
	for _, tc := range []struct{ policy, path string }{{"alias", "sys/rotate/keyring"}, {"nosudo", "sys/rotate"}, {"nosudo", "sys/rotate/keyring"}} {
		tok := mustCall(t, k.c, k.root, logical.UpdateOperation, "auth/token/create", map[string]any{"policies": []any{tc.policy}}).Auth.ClientToken.Reveal()
		_, err := call(t, k.c, tok, logical.UpdateOperation, tc.path, nil)
		wantErr(t, err, http.StatusForbidden, "permission denied")
	}
}

// Automatic rotation: after max_operations encryptions or once the term is
// older than interval, and never while disabled. Settings outside Vault's
// bounds are refused.
func TestKeyringAutoRotation(t *testing.T) {
	k := newKeyCore(t, inmem.New())
	ctx := context.Background()
	get := func(path string) map[string]any {
		return mustCall(t, k.c, k.root, logical.ReadOperation, path, nil).Data
	}
	cfg := get("sys/rotate/config")
	if cfg["max_operations"] != int64(3865470566) || cfg["enabled"] != true || cfg["interval"] != 0 {
		t.Fatalf("default config = %v", cfg)
	}
	for _, tc := range []struct {
		name string
		data map[string]any
		msg  string
	}{
		{"too few operations", map[string]any{"max_operations": 10}, "max_operations must be in the range"},
		{"too many operations", map[string]any{"max_operations": "3865470567"}, "max_operations must be in the range"},
		{"short interval", map[string]any{"interval": "1h"}, "interval must be"},
		{"unknown field", map[string]any{"max_operation": 2000000}, "unknown field"},
		{"not a bool", map[string]any{"enabled": "maybe"}, "boolean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := call(t, k.c, k.root, logical.UpdateOperation, "sys/rotate/keyring/config", tc.data)
			wantErr(t, err, http.StatusBadRequest, tc.msg)
		})
	}
	if rotated, err := k.c.CheckKeyringRotation(ctx); err != nil || rotated {
		t.Fatalf("check with defaults = %v, %v; want no rotation", rotated, err)
	}

	k.c.SetRotationMinimums(5, time.Hour)
	mustCall(t, k.c, k.root, logical.UpdateOperation, "sys/rotate/keyring/config", map[string]any{"max_operations": 5})
	for get("sys/key-status")["encryptions"].(uint64) < 5 {
		mustCall(t, k.c, k.root, logical.UpdateOperation, "sys/policies/acl/p", map[string]any{"policy": `path "x" { capabilities = ["read"] }`})
	}
	if rotated, err := k.c.CheckKeyringRotation(ctx); err != nil || !rotated {
		t.Fatalf("check after max_operations = %v, %v; want a rotation", rotated, err)
	}
	if ks := get("sys/key-status"); ks["term"] != uint32(2) {
		t.Fatalf("key status after automatic rotation = %v", ks)
	}
	if rotated, _ := k.c.CheckKeyringRotation(ctx); rotated {
		t.Fatal("rotated again with a fresh term")
	}

	mustCall(t, k.c, k.root, logical.UpdateOperation, "sys/rotate/config", map[string]any{"max_operations": 3865470566, "interval": "24h"})
	if cfg := get("sys/rotate/keyring/config"); cfg["interval"] != "24h0m0s" || cfg["max_operations"] != int64(3865470566) {
		t.Fatalf("config = %v", cfg)
	}
	k.clock.Add(23 * time.Hour)
	if rotated, _ := k.c.CheckKeyringRotation(ctx); rotated {
		t.Fatal("rotated before the interval")
	}
	k.clock.Add(time.Hour)
	if rotated, err := k.c.CheckKeyringRotation(ctx); err != nil || !rotated {
		t.Fatalf("check after the interval = %v, %v", rotated, err)
	}
	if ks := get("sys/key-status"); ks["term"] != uint32(3) {
		t.Fatalf("term after interval rotation = %v", ks["term"])
	}

	mustCall(t, k.c, k.root, logical.UpdateOperation, "sys/rotate/config", map[string]any{"enabled": false})
	k.clock.Add(48 * time.Hour)
	if rotated, _ := k.c.CheckKeyringRotation(ctx); rotated {
		t.Fatal("rotated while disabled")
	}
	if cfg := get("sys/rotate/config"); cfg["enabled"] != false {
		t.Fatalf("config after disable = %v", cfg)
	}
}

// base62OTP draws an OTP the way the Vault and OpenBao CLIs do for
// -generate-otp: otp_length random base62 characters.
func base62OTP(t *testing.T, n int) string {
	t.Helper()
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, big.NewInt(62))
		if err != nil {
			t.Fatal(err)
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

// A client OTP is used as sent (never replaced or echoed) and the encoded
// token decodes with it; an OTP that cannot decode a token is refused with
// 400 before anything starts.
func TestGenerateRootClientOTP(t *testing.T) {
	k := newKeyCore(t, inmem.New())
	for _, tc := range []struct {
		name string
		data map[string]any
		msg  string
	}{
		{"short", map[string]any{"otp": base62OTP(t, 24)}, "otp must be 53 base62 characters"},
		{"long", map[string]any{"otp": base62OTP(t, 54)}, "otp must be 53"},
		{"not base62", map[string]any{"otp": base62OTP(t, 52) + "+"}, "position 53"},
		{"pgp key", map[string]any{"pgp_key": "keybase:x"}, "pgp_key is not supported"},
		{"unknown field", map[string]any{"otp_length": 53}, "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.anon(t, logical.UpdateOperation, "sys/generate-root/attempt", tc.data)
			wantErr(t, err, http.StatusBadRequest, tc.msg)
		})
	}
	if st, _ := k.anon(t, logical.ReadOperation, "sys/generate-root/attempt", nil); st["started"] != false || st["otp_length"] != float64(tokenfmt.Len) {
		t.Fatalf("status after refusals = %v", st)
	}
	otp := base62OTP(t, tokenfmt.Len)
	st, err := k.anon(t, logical.UpdateOperation, "sys/generate-root/attempt", map[string]any{"otp": otp, "pgp_key": ""})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := st["otp"].(string); got != "" {
		t.Fatalf("the server answered an OTP (%d chars) to a client OTP", len(got))
	}
	nonce := st["nonce"].(string)
	for _, s := range hexAll(k.shares[:3]) {
		if st, err = k.anon(t, logical.UpdateOperation, "sys/generate-root/update", map[string]any{"key": s, "nonce": nonce}); err != nil {
			t.Fatal(err)
		}
	}
	if st["complete"] != true || st["started"] != true || st["nonce"] != nonce {
		t.Fatalf("final update = %v", st)
	}
	tok, err := core.DecodeRootToken(st["encoded_token"].(string), otp)
	if err != nil {
		t.Fatal(err)
	}
	if resp := mustCall(t, k.c, tok, logical.ReadOperation, "auth/token/lookup-self", nil); resp.Data["policies"] == nil {
		t.Fatalf("lookup-self with the decoded token = %v", resp.Data)
	}
}

// sys/generate-root-token/* is the ceremony with a token and the data
// envelope (OpenBao 2.6); its cancel needs no nonce; sys/decode-token
// decodes the result.
func TestGenerateRootTokenWithToken(t *testing.T) {
	k := newKeyCore(t, inmem.New())
	_, err := k.authed(t, "", logical.ReadOperation, "sys/generate-root-token/attempt", nil)
	wantErr(t, err, http.StatusForbidden, "permission denied")
	st, err := k.authed(t, k.root, logical.UpdateOperation, "sys/generate-root-token/attempt", map[string]any{})
	if err != nil || st["started"] != true || len(st["otp"].(string)) != tokenfmt.Len {
		t.Fatalf("start = %v, %v", st, err)
	}
	if _, err := k.authed(t, k.root, logical.DeleteOperation, "sys/generate-root-token/attempt", nil); err != nil {
		t.Fatalf("cancel without nonce: %v", err)
	}
	st, err = k.authed(t, k.root, logical.UpdateOperation, "sys/generate-root-token/attempt", nil)
	if err != nil {
		t.Fatal(err)
	}
	otp, nonce := st["otp"].(string), st["nonce"].(string)
	for _, s := range hexAll(k.shares[1:4]) {
		if st, err = k.authed(t, k.root, logical.UpdateOperation, "sys/generate-root-token/update", map[string]any{"key": s, "nonce": nonce}); err != nil {
			t.Fatal(err)
		}
	}
	if st["complete"] != true {
		t.Fatalf("final update = %v", st)
	}
	dec, err := k.authed(t, k.root, logical.UpdateOperation, "sys/decode-token", map[string]any{"encoded_token": st["encoded_token"], "otp": otp})
	if err != nil {
		t.Fatal(err)
	}
	tok := dec["token"].(string)
	if !tokenfmt.Valid(tok) {
		t.Fatal("decoded token is not a Keyward token")
	}
	mustCall(t, k.c, tok, logical.ReadOperation, "auth/token/lookup-self", nil)
}

// revealShares returns the bytes of init's shares, which these tests submit
// and inspect themselves.
func revealShares(shares []sensitive.Bytes) [][]byte {
	out := make([][]byte, len(shares))
	for i, s := range shares {
		out[i] = s.Reveal()
	}
	return out
}

// wrapShares holds shares given as bytes in sensitive.Bytes.
func wrapShares(shares [][]byte) []sensitive.Bytes {
	out := make([]sensitive.Bytes, len(shares))
	for i, s := range shares {
		out[i] = sensitive.NewBytes(s)
	}
	return out
}
