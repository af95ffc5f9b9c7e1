package audit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/sensitive"
)

// testBroker is a broker over in-memory storage. Unless the options name
// an audit directory, it is the system temporary directory, so tests may
// put audit files in t.TempDir().
type testBroker struct {
	*audit.Broker
	view *logicaltest.InmemStorage
}

func newBroker(t testing.TB, opts audit.Options) *testBroker {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = os.TempDir()
	}
	view := &logicaltest.InmemStorage{}
	b, err := audit.New(t.Context(), view, nil, opts)
	if err != nil {
		t.Fatalf("audit.New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return &testBroker{b, view}
}

// sys sends a request to the broker's sys backend.
func (b *testBroker) sys(t testing.TB, op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	t.Helper()
	return b.Backend().HandleRequest(context.Background(), &logical.Request{Operation: op, Path: path, Data: data})
}

func (b *testBroker) enable(t testing.TB, name, typ string, opts map[string]string) {
	t.Helper()
	o := map[string]any{}
	for k, v := range opts {
		o[k] = v
	}
	if _, err := b.sys(t, logical.UpdateOperation, "audit/"+name, map[string]any{"type": typ, "options": o}); err != nil {
		t.Fatalf("enable %s %s: %v", typ, name, err)
	}
}

func (b *testBroker) publicKey(t testing.TB, name string) ed25519.PublicKey {
	t.Helper()
	resp, err := b.sys(t, logical.ReadOperation, "audit/"+name+"/public-key", nil)
	if err != nil {
		t.Fatalf("public key: %v", err)
	}
	k, err := base64.StdEncoding.DecodeString(resp.Data["public_key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// traffic logs n request/response pairs.
func (b *testBroker) traffic(t testing.TB, n int) {
	t.Helper()
	for i := range n {
		req := &logical.Request{
			ID: fmt.Sprintf("req-%d", i), Operation: logical.ReadOperation, Path: fmt.Sprintf("secret/data/app%d", i),
			ClientToken: sensitive.NewString("kw.s.canarytoken"), Token: &logical.TokenInfo{Accessor: "acc1", DisplayName: "token-ci", Policies: []string{"default"}},
			Connection: &logical.Connection{RemoteAddr: "192.0.2.7"},
		}
		if err := b.LogRequest(context.Background(), req, nil); err != nil {
			t.Fatalf("LogRequest: %v", err)
		}
		resp := &logical.Response{Data: map[string]any{"value": fmt.Sprintf("secret-%d", i)}}
		if err := b.LogResponse(context.Background(), req, resp, nil); err != nil {
			t.Fatalf("LogResponse: %v", err)
		}
	}
}

func logPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "audit.log")
}
