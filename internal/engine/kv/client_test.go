package kv_test

import (
	"context"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// A live version whose deletion delete_version_after scheduled reads as
// Vault answers it: the data, and the future deletion_time in its metadata
// (clients such as consul-template 0.37+ compare it with the current time;
// older template libraries that treat any deletion_time as deleted skip such
// secrets with Vault too).
func TestScheduledDeletionThroughVaultClient(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	ctx := context.Background()
	kv := c.KVv2("secret")
	if err := kv.PutMetadata(ctx, "app", vault.KVMetadataPutInput{DeleteVersionAfter: time.Hour}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := kv.Put(ctx, "app", map[string]any{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	s, err := kv.Get(ctx, "app")
	if err != nil {
		t.Fatalf("Get of a version scheduled for deletion: %v", err)
	}
	if s.Data["a"] != "b" {
		t.Errorf("data = %v, want the secret", s.Data)
	}
	if del := s.VersionMetadata.DeletionTime; !del.After(before.Add(59 * time.Minute)) {
		t.Errorf("deletion_time = %v, want the scheduled time about an hour ahead", del)
	}
	raw, err := c.Logical().Read("secret/data/app")
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := raw.Data["metadata"].(map[string]any)["deletion_time"].(string); d == "" {
		t.Errorf("metadata = %v, want deletion_time set as Vault sets it", raw.Data["metadata"])
	}
}
