package node_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// sys/config/state/sanitized shows the running configuration to sudo
// holders only.
func TestSanitizedConfig(t *testing.T) {
	n := nodetest.Start(t)
	root := n.Client(t)
	s, err := root.Logical().Read("sys/config/state/sanitized")
	if err != nil || s == nil {
		t.Fatalf("read sanitized config: %v, %v", s, err)
	}
	ls, _ := s.Data["listeners"].([]any)
	if len(ls) != 1 || s.Data["storage"] == nil || s.Data["max_lease_ttl"] == nil {
		t.Fatalf("sanitized config = %v", s.Data)
	}
	if raw, _ := json.Marshal(s.Data); strings.Contains(string(raw), n.RootToken.Reveal()) {
		t.Fatal("the config shows a token")
	}
	noSudo := tokenWith(t, root, "config-reader", `path "sys/config/*" { capabilities = ["read"] }`)
	if status, _ := do(t, "GET", n.URL+"/v1/sys/config/state/sanitized", noSudo, nil); status != http.StatusForbidden {
		t.Fatalf("read without sudo = %d, want 403", status)
	}
}
