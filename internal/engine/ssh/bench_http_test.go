package ssh_test

import (
	"testing"

	"github.com/keyward/keyward/internal/node/nodetest"

	vault "github.com/hashicorp/vault/api"
)

// BenchmarkSignHTTP is one sign/ROLE through the official client and the
// whole server (HTTP, token, ACL, barrier, audit pipeline), ed25519 CA.
func BenchmarkSignHTTP(b *testing.B) {
	n := nodetest.Start(b)
	c := n.Client(b)
	if err := c.Sys().Mount("ssh", &vault.MountInput{Type: "ssh"}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Logical().Write("ssh/config/ca", map[string]any{"key_type": "ed25519"}); err != nil {
		b.Fatal(err)
	}
	writeRole(b, c, "ops", map[string]any{"allow_user_certificates": true, "allowed_users": "ops", "ttl": "1h"})
	_, pub := newKey(b)
	sshc := c.SSHWithMountPoint("ssh")
	for b.Loop() {
		if _, err := sshc.SignKey("ops", map[string]any{"public_key": pub, "valid_principals": "ops"}); err != nil {
			b.Fatal(err)
		}
	}
}
