package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/logical"
)

// documented is an auth method declared with a logical.Router; undocumented
// one without; both count the requests that reach a handler.
type documented struct {
	*logical.Router
	handled *atomic.Int32
}

type undocumented struct{ handled *atomic.Int32 }

func (u undocumented) HandleRequest(context.Context, *logical.Request) (*logical.Response, error) {
	u.handled.Add(1)
	return &logical.Response{Data: map[string]any{"served": true}}, nil
}

func helpMethods(handled *atomic.Int32) map[string]logical.Factory {
	serve := func(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
		handled.Add(1)
		return nil, nil
	}
	return map[string]logical.Factory{
		"documented": func(context.Context, *logical.BackendConfig) (logical.Backend, error) {
			return documented{Router: logical.NewRouter("A documented method.",
				logical.Route{Pattern: "login", Unauthenticated: true, Synopsis: "Log in.",
					Ops:    map[logical.Operation]logical.Handler{logical.UpdateOperation: serve},
					Fields: logical.Fields{{Name: "secret", Description: "The login secret."}}},
				logical.Route{Pattern: "roles/{name}", Synopsis: "Manage a role.",
					Ops:    map[logical.Operation]logical.Handler{logical.ReadOperation: serve, logical.UpdateOperation: serve},
					Fields: logical.Fields{{Name: "ttl", Type: logical.TypeDuration, Description: "The role's TTL."}}},
			), handled: handled}, nil
		},
		"undocumented": func(context.Context, *logical.BackendConfig) (logical.Backend, error) {
			return undocumented{handled: handled}, nil
		},
	}
}

func helpText(t *testing.T, resp *logical.Response) string {
	t.Helper()
	var body struct {
		Help    string         `json:"help"`
		OpenAPI map[string]any `json:"openapi"`
	}
	if resp == nil || json.Unmarshal(resp.Raw, &body) != nil || body.OpenAPI == nil {
		t.Fatalf("help response %v is not {help, openapi}", resp)
	}
	return body.Help
}

// Help (?help=1) needs a token with read or list on the path, reaches the
// backend's route declarations and never a handler, and answers 404 for a
// backend that declares none.
func TestHelpAuthorizationAndRouting(t *testing.T) {
	var handled atomic.Int32
	c, root := newCore(t, helpMethods(&handled))
	mustCall(t, c, root, logical.UpdateOperation, "sys/auth/doc", map[string]any{"type": "documented"})
	mustCall(t, c, root, logical.UpdateOperation, "sys/auth/undoc", map[string]any{"type": "undocumented"})
	reader := tokenWith(t, c, root, "reader", `path "auth/doc/roles/*" { capabilities = ["read"] }
path "sys/policies/acl" { capabilities = ["list"] }
path "auth/undoc/*" { capabilities = ["read"] }`)
	writer := tokenWith(t, c, root, "writer", `path "auth/doc/*" { capabilities = ["create", "update", "delete", "sudo"] }
path "sys/*" { capabilities = ["update"] }`)

	tests := []struct {
		name, token, path string
		wantStatus        int    // 0: help served
		want              string // in the help text
	}{
		{"root on a route", root, "auth/doc/roles/web", 0, "ttl (duration (sec))"},
		{"root on the mount", root, "auth/doc/", 0, "A documented method."},
		{"read grants help", reader, "auth/doc/roles/web", 0, "The role's TTL."},
		{"list grants help", reader, "sys/policies/acl", 0, "List the ACL policies."},
		{"root on sys", root, "sys/mounts/secret/tune", 0, "max_lease_ttl (duration (sec))"},
		{"sealed-state path", root, "sys/unseal", 0, "Submit an unseal key share."},
		{"write-only token", writer, "auth/doc/roles/web", http.StatusForbidden, ""},
		{"write-only on sys", writer, "sys/mounts", http.StatusForbidden, ""},
		{"no token on a login path", "", "auth/doc/login", http.StatusForbidden, ""},
		{"unknown path", root, "auth/doc/nope", http.StatusNotFound, "no such path"},
		{"undocumented backend", root, "auth/undoc/anything", http.StatusNotFound, "does not document"},
		{"read there, undocumented", reader, "auth/undoc/anything", http.StatusNotFound, "does not document"},
		{"nothing mounted", root, "nowhere/x", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := handled.Load()
			resp, err := call(t, c, tt.token, logical.HelpOperation, tt.path, nil)
			if handled.Load() != before {
				t.Errorf("help reached a handler")
			}
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("help %s: %v", tt.path, err)
				}
				if text := helpText(t, resp); !strings.Contains(text, tt.want) {
					t.Errorf("help %s lacks %q:\n%s", tt.path, tt.want, text)
				}
				return
			}
			status, msg, _ := logical.StatusOf(err)
			if status != tt.wantStatus || !strings.Contains(msg, tt.want) {
				t.Errorf("help %s: %d %q (%v), want %d %q", tt.path, status, msg, err, tt.wantStatus, tt.want)
			}
		})
	}
	// The unseal help did not submit anything.
	if st, err := c.SealStatus(context.Background()); err != nil || st.Progress != 0 {
		t.Errorf("help on sys/unseal changed the unseal progress: %+v", st)
	}
}

// A sealed server answers help like any other request that needs a token.
func TestHelpWhileSealed(t *testing.T) {
	c, root := newCore(t, nil)
	c.Seal()
	if _, err := call(t, c, root, logical.HelpOperation, "sys/seal-status", nil); !errors.Is(err, logical.ErrSealed) {
		t.Errorf("help while sealed: %v, want ErrSealed", err)
	}
}
