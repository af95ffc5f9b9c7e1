package node_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// These tests drive a real server with HashiCorp's official Go client: if
// they pass, existing Vault tooling built on it works against Keyward.

func TestVaultClientInitUnseal(t *testing.T) {
	n := nodetest.StartWith(t, nodetest.Options{Uninitialized: true})
	c := nodetest.VaultClient(t, n.URL, "")
	sys := c.Sys()

	init, err := sys.InitStatus()
	if err != nil || init {
		t.Fatalf("InitStatus = %v, %v; want false, nil", init, err)
	}
	h, err := sys.Health()
	if err != nil {
		t.Fatalf("Health: %v", err)
	}
	if h.Initialized || !h.Sealed {
		t.Fatalf("Health = %+v, want uninitialized and sealed", h)
	}
	resp, err := sys.Init(&vault.InitRequest{SecretShares: 5, SecretThreshold: 3})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if len(resp.Keys) != 5 || len(resp.KeysB64) != 5 || resp.RootToken == "" {
		t.Fatalf("Init returned %d keys, %d base64 keys, root token %v", len(resp.Keys), len(resp.KeysB64), resp.RootToken != "")
	}
	if _, err := sys.Init(&vault.InitRequest{SecretShares: 1, SecretThreshold: 1}); err == nil {
		t.Fatal("second Init succeeded; want an error")
	}
	st, err := sys.SealStatus()
	if err != nil || !st.Sealed || st.T != 3 || st.N != 5 || st.Progress != 0 {
		t.Fatalf("SealStatus = %+v, %v", st, err)
	}
	st, err = sys.Unseal(resp.Keys[0])
	if err != nil || st.Progress != 1 || !st.Sealed {
		t.Fatalf("Unseal(1) = %+v, %v", st, err)
	}
	// The same share again makes no progress, and is no error (as in
	// Vault; issue 11 item 3).
	if st, err := sys.Unseal(resp.Keys[0]); err != nil || st.Progress != 1 {
		t.Fatalf("duplicate share = %+v, %v; want progress 1, no error", st, err)
	}
	st, _ = sys.SealStatus()
	if st.Progress != 1 {
		t.Fatalf("progress after duplicate = %d, want 1", st.Progress)
	}
	// A base64 share works as well as hex.
	if st, err = sys.Unseal(resp.KeysB64[1]); err != nil || st.Progress != 2 {
		t.Fatalf("Unseal(2) = %+v, %v", st, err)
	}
	if st, err = sys.Unseal(resp.Keys[4]); err != nil || st.Sealed {
		t.Fatalf("Unseal(3) = %+v, %v", st, err)
	}
	c.SetToken(resp.RootToken)
	if h, err = sys.Health(); err != nil || h.Sealed || !h.Initialized {
		t.Fatalf("Health after unseal = %+v, %v", h, err)
	}
	if err := sys.Seal(); err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if _, err := c.Logical().Read("sys/mounts"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("read while sealed: err = %v, want 503", err)
	}
	for _, k := range []string{resp.Keys[2], resp.Keys[3], resp.Keys[0]} {
		if _, err := sys.Unseal(k); err != nil {
			t.Fatalf("re-unseal: %v", err)
		}
	}
	if st, _ := sys.SealStatus(); st.Sealed {
		t.Fatal("still sealed after three shares")
	}
}

func TestVaultClientKVv2(t *testing.T) {
	n := nodetest.Start(t)
	c := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	kv := c.KVv2("secret")
	ctx := context.Background()

	s, err := kv.Put(ctx, "app/db", map[string]any{"password": "p1", "user": "app"})
	if err != nil || s.VersionMetadata.Version != 1 {
		t.Fatalf("Put v1 = %+v, %v", s, err)
	}
	if _, err := kv.Put(ctx, "app/db", map[string]any{"password": "p2", "user": "app"}); err != nil {
		t.Fatalf("Put v2: %v", err)
	}
	got, err := kv.Get(ctx, "app/db")
	if err != nil || got.Data["password"] != "p2" || got.VersionMetadata.Version != 2 {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	old, err := kv.GetVersion(ctx, "app/db", 1)
	if err != nil || old.Data["password"] != "p1" {
		t.Fatalf("GetVersion(1) = %+v, %v", old, err)
	}
	// Check-and-set: a stale version is refused.
	if _, err := kv.Put(ctx, "app/db", map[string]any{"password": "p3"}, vault.WithCheckAndSet(1)); err == nil {
		t.Fatal("Put with stale cas succeeded")
	}
	if _, err := kv.Patch(ctx, "app/db", map[string]any{"password": "p3"}); err != nil {
		t.Fatalf("Patch: %v", err)
	}
	got, _ = kv.Get(ctx, "app/db")
	if got.Data["password"] != "p3" || got.Data["user"] != "app" {
		t.Fatalf("after Patch = %v", got.Data)
	}
	if err := kv.Delete(ctx, "app/db"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	// A deleted version comes back as a 404 carrying metadata, which the
	// client returns as a secret without data.
	if got, err := kv.Get(ctx, "app/db"); err != nil || got.Data != nil || got.VersionMetadata.DeletionTime.IsZero() {
		t.Fatalf("Get of deleted version = %+v, %v; want no data and a deletion time", got, err)
	}
	if err := kv.Undelete(ctx, "app/db", []int{3}); err != nil {
		t.Fatalf("Undelete: %v", err)
	}
	if got, err = kv.Get(ctx, "app/db"); err != nil || got.Data["password"] != "p3" {
		t.Fatalf("Get after Undelete = %+v, %v", got, err)
	}
	if err := kv.Destroy(ctx, "app/db", []int{1}); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if got, err := kv.GetVersion(ctx, "app/db", 1); err != nil || got.Data != nil || !got.VersionMetadata.Destroyed {
		t.Fatalf("GetVersion of destroyed version = %+v, %v; want no data, destroyed", got, err)
	}
	meta, err := kv.GetMetadata(ctx, "app/db")
	if err != nil || meta.CurrentVersion != 3 || !meta.Versions["1"].Destroyed {
		t.Fatalf("GetMetadata = %+v, %v", meta, err)
	}
	if err := kv.PutMetadata(ctx, "app/db", vault.KVMetadataPutInput{MaxVersions: 5, CustomMetadata: map[string]any{"owner": "team-a"}}); err != nil {
		t.Fatalf("PutMetadata: %v", err)
	}
	meta, _ = kv.GetMetadata(ctx, "app/db")
	if meta.MaxVersions != 5 || meta.CustomMetadata["owner"] != "team-a" {
		t.Fatalf("metadata after PutMetadata = %+v", meta)
	}
	// Rollback writes an old version as the newest.
	if _, err := kv.Rollback(ctx, "app/db", 2); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if got, _ = kv.Get(ctx, "app/db"); got.Data["password"] != "p2" || got.VersionMetadata.Version != 4 {
		t.Fatalf("after Rollback = %v v%d", got.Data, got.VersionMetadata.Version)
	}
	vs, err := kv.GetVersionsAsList(ctx, "app/db")
	if err != nil || len(vs) != 4 {
		t.Fatalf("GetVersionsAsList = %d, %v", len(vs), err)
	}
	list, err := c.Logical().List("secret/metadata/app")
	if err != nil || list == nil || len(list.Data["keys"].([]any)) != 1 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if err := kv.DeleteMetadata(ctx, "app/db"); err != nil {
		t.Fatalf("DeleteMetadata: %v", err)
	}
	if _, err := kv.Get(ctx, "app/db"); !errors.Is(err, vault.ErrSecretNotFound) {
		t.Fatalf("Get after DeleteMetadata: %v, want ErrSecretNotFound", err)
	}
	sub, err := c.Logical().Read("secret/subkeys/none")
	if err != nil || sub != nil {
		t.Fatalf("subkeys of missing = %v, %v", sub, err)
	}
}

func TestVaultClientPoliciesTokensMounts(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	sys := root.Sys()
	ctx := context.Background()

	const pol = `
path "secret/data/ci/app/*" { capabilities = ["read"] }
path "secret/metadata/ci/app/*" { capabilities = ["list"] }
`
	if err := sys.PutPolicy("ci-read", pol); err != nil {
		t.Fatalf("PutPolicy: %v", err)
	}
	got, err := sys.GetPolicy("ci-read")
	if err != nil || got != pol {
		t.Fatalf("GetPolicy = %q, %v", got, err)
	}
	names, err := sys.ListPolicies()
	if err != nil || !contains(names, "ci-read") || !contains(names, "default") || !contains(names, "root") {
		t.Fatalf("ListPolicies = %v, %v", names, err)
	}
	if err := sys.PutPolicy("Root", `path "*" { capabilities = ["sudo"] }`); err == nil {
		t.Fatal("policy named Root accepted")
	}
	if _, err := root.KVv2("secret").Put(ctx, "ci/app/db", map[string]any{"password": "ci-pass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.KVv2("secret").Put(ctx, "ci/other/db", map[string]any{"password": "other"}); err != nil {
		t.Fatal(err)
	}

	// A CI-style token: ten minutes, one policy, no default policy.
	sec, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"ci-read"}, TTL: "10m", DisplayName: "ci-job"})
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	if sec.Auth.LeaseDuration != 600 || sec.Auth.ClientToken == "" || sec.Auth.Accessor == "" {
		t.Fatalf("token create auth = %+v", sec.Auth)
	}
	ci := nodetest.VaultClient(t, n.URL, sec.Auth.ClientToken)
	s, err := ci.KVv2("secret").Get(ctx, "ci/app/db")
	if err != nil || s.Data["password"] != "ci-pass" {
		t.Fatalf("ci read = %+v, %v\n%s", s, err, n.Logs.Bytes())
	}
	if _, err := ci.KVv2("secret").Get(ctx, "ci/other/db"); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("ci read of other path: %v, want 403", err)
	}
	if _, err := ci.KVv2("secret").Put(ctx, "ci/app/db", map[string]any{"password": "x"}); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("ci write: %v, want 403", err)
	}
	if _, err := ci.Logical().Read("secret/metadata/ci/app/db"); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("ci metadata read: %v, want 403", err)
	}
	caps, err := ci.Sys().CapabilitiesSelf("secret/data/ci/app/db")
	if err != nil || len(caps) != 1 || caps[0] != "read" {
		t.Fatalf("CapabilitiesSelf = %v, %v", caps, err)
	}
	self, err := ci.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("LookupSelf: %v", err)
	}
	if ttl, _ := self.TokenTTL(); ttl <= 0 || ttl > 10*time.Minute {
		t.Fatalf("LookupSelf ttl = %v", ttl)
	}
	acc, err := root.Auth().Token().LookupAccessor(sec.Auth.Accessor)
	if err != nil {
		t.Fatalf("LookupAccessor: %v", err)
	}
	if id, _ := acc.Data["id"].(string); id != "" {
		t.Fatal("lookup-accessor returned the token id")
	}
	if _, err := ci.Auth().Token().RenewSelf(300); err != nil {
		t.Fatalf("RenewSelf: %v", err)
	}
	if err := root.Auth().Token().RevokeAccessor(sec.Auth.Accessor); err != nil {
		t.Fatalf("RevokeAccessor: %v", err)
	}
	if _, err := ci.KVv2("secret").Get(ctx, "ci/app/db"); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("read with revoked token: %v, want 403", err)
	}

	// Mounts: enable, tune, list, disable.
	if err := sys.Mount("kv1", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatalf("Mount kv1: %v", err)
	}
	if err := sys.Mount("team", &vault.MountInput{Type: "kv-v2", Config: vault.MountConfigInput{DefaultLeaseTTL: "1h", MaxLeaseTTL: "2h"}}); err != nil {
		t.Fatalf("Mount team: %v", err)
	}
	mounts, err := sys.ListMounts()
	if err != nil || mounts["team/"] == nil || mounts["team/"].Options["version"] != "2" || mounts["kv1/"] == nil {
		t.Fatalf("ListMounts = %v, %v", mounts, err)
	}
	//lint:ignore SA1019 old clients still call TuneMount; it must keep working
	if err := sys.TuneMount("team", vault.MountConfigInput{MaxLeaseTTL: "3h"}); err != nil {
		t.Fatalf("TuneMount: %v", err)
	}
	tc, err := sys.MountConfig("team")
	if err != nil || tc.MaxLeaseTTL != 3*3600 || tc.DefaultLeaseTTL != 3600 {
		t.Fatalf("MountConfig = %+v, %v", tc, err)
	}
	if _, err := root.Logical().Write("kv1/app", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("kv1 write: %v", err)
	}
	if s, err := root.Logical().Read("kv1/app"); err != nil || s.Data["k"] != "v" {
		t.Fatalf("kv1 read = %+v, %v", s, err)
	}
	if err := sys.Unmount("kv1"); err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	if err := sys.Mount("sys2", &vault.MountInput{Type: "nope"}); err == nil {
		t.Fatal("mount of unknown type succeeded")
	}
	if err := sys.Unmount("sys"); err == nil {
		t.Fatal("unmount of sys/ succeeded")
	}
	if err := sys.DeletePolicy("ci-read"); err != nil {
		t.Fatalf("DeletePolicy: %v", err)
	}
	// Rotation keeps old data readable.
	if err := sys.Rotate(); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	ks, err := sys.KeyStatus()
	if err != nil || ks.Term != 2 {
		t.Fatalf("KeyStatus = %+v, %v", ks, err)
	}
	if s, err := root.KVv2("secret").Get(ctx, "ci/app/db"); err != nil || s.Data["password"] != "ci-pass" {
		t.Fatalf("read after rotate = %+v, %v", s, err)
	}
}

func TestVaultClientGenerateRoot(t *testing.T) {
	n := nodetest.StartWith(t, nodetest.Options{Shares: 3, Threshold: 2})
	c := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	sys := c.Sys()
	if err := c.Auth().Token().RevokeSelf(""); err != nil {
		t.Fatalf("revoke root: %v", err)
	}
	if _, err := c.Logical().Read("sys/mounts"); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("revoked root still works: %v", err)
	}
	st, err := sys.GenerateRootInit("", "")
	if err != nil || !st.Started || st.OTP == "" {
		t.Fatalf("GenerateRootInit = %+v, %v", st, err)
	}
	otp := st.OTP
	for i, s := range n.Shares[:2] {
		st, err = sys.GenerateRootUpdate(hexOf(s), st.Nonce)
		if err != nil {
			t.Fatalf("GenerateRootUpdate(%d): %v", i, err)
		}
	}
	if !st.Complete || st.EncodedToken == "" {
		t.Fatalf("generation not complete: %+v", st)
	}
	tok, err := decodeRoot(st.EncodedToken, otp)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok)
	if _, err := c.Logical().Read("sys/mounts"); err != nil {
		t.Fatalf("new root token: %v", err)
	}
}

func contains(s []string, v string) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

func isStatus(err error, code int) bool {
	var re *vault.ResponseError
	return errors.As(err, &re) && re.StatusCode == code
}
