package node_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// `kv enable-versioning` (a tune of options.version to 2) upgrades a KV
// version 1 mount in place: through the official client's KVv2 API every
// secret is there, at version 1, and history goes on from there.
func TestVaultClientKVEnableVersioning(t *testing.T) {
	n := nodetest.Start(t)
	c := vaultClient(t, n.URL, n.RootToken.Reveal())
	ctx := context.Background()
	if err := c.Sys().Mount("kv1", &vault.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]map[string]any{
		"app/db":    {"password": "s3cr3t", "user": "app"},
		"app/api":   {"key": "k-1"},
		"top-level": {"ttl": "1h", "v": "x"},
	}
	for p, d := range secrets {
		if err := c.KVv1("kv1").Put(ctx, p, d); err != nil {
			t.Fatalf("v1 put %s: %v", p, err)
		}
	}
	// What the CLI's enable-versioning sends.
	if err := c.Sys().TuneMount("kv1", vault.MountConfigInput{Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("tune to version 2: %v", err)
	}
	m, err := c.Sys().GetMount("kv1")
	if err != nil || m.Options["version"] != "2" {
		t.Fatalf("mount after upgrade: %+v, %v", m, err)
	}
	kv2 := c.KVv2("kv1")
	for p, want := range secrets {
		s, err := kv2.Get(ctx, p)
		if err != nil {
			t.Fatalf("KVv2 get %s: %v", p, err)
		}
		for k, v := range want {
			if s.Data[k] != v {
				t.Errorf("%s: %s = %v, want %v", p, k, s.Data[k], v)
			}
		}
		if s.VersionMetadata == nil || s.VersionMetadata.Version != 1 {
			t.Errorf("%s: version metadata %+v, want version 1", p, s.VersionMetadata)
		}
		vs, err := kv2.GetVersionsAsList(ctx, p)
		if err != nil || len(vs) != 1 || vs[0].Version != 1 {
			t.Errorf("%s: versions %+v, %v; want just version 1", p, vs, err)
		}
	}
	list, err := c.Logical().List("kv1/metadata/app")
	if err != nil || list == nil {
		t.Fatalf("list metadata: %v", err)
	}
	keys := list.Data["keys"].([]any)
	if !slices.Equal(keys, []any{"api", "db"}) {
		t.Errorf("LIST kv1/metadata/app = %v", keys)
	}
	s, err := kv2.Put(ctx, "app/db", map[string]any{"password": "rotated"})
	if err != nil || s.VersionMetadata.Version != 2 {
		t.Fatalf("write after upgrade: %+v, %v; want version 2", s, err)
	}
	old, err := kv2.GetVersion(ctx, "app/db", 1)
	if err != nil || old.Data["password"] != "s3cr3t" {
		t.Fatalf("version 1 after a new write: %+v, %v", old, err)
	}
	// Version 2 never goes back.
	err = c.Sys().TuneMount("kv1", vault.MountConfigInput{Options: map[string]string{"version": "1"}})
	if !isStatus(err, http.StatusBadRequest) {
		t.Fatalf("downgrade to version 1 = %v, want 400", err)
	}
}
