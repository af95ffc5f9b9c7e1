package core_test

import (
	"context"
	"errors"
	"testing"

	"github.com/keyward/keyward/internal/logical"
)

// claimsAuth is a minimal auth method for the test: login returns the
// posted alias and metadata as the caller's identity, as the JWT method does
// with its user claim and claim mappings.
type claimsAuth struct{}

func (claimsAuth) UnauthenticatedPaths() []string { return []string{"login"} }

func (claimsAuth) HandleRequest(_ context.Context, req *logical.Request) (*logical.Response, error) {
	if req.Path != "login" {
		return nil, logical.ErrUnsupportedPath
	}
	alias, _, _ := logical.Str(req.Data, "alias")
	repo, _, _ := logical.Str(req.Data, "repository")
	return &logical.Response{Auth: &logical.Auth{
		Policies:  []string{"per-repo"},
		Metadata:  map[string]string{"repository": repo},
		Alias:     alias,
		Renewable: true,
	}}, nil
}

// Templated policies render from the caller's identity, and a value that
// would widen the path (a glob, a separator, traversal) matches nothing (T10).
func TestTemplatedPolicy(t *testing.T) {
	c, root := newCore(t, map[string]logical.Factory{"claims": func(context.Context, *logical.BackendConfig) (logical.Backend, error) { return claimsAuth{}, nil }})
	mustCall(t, c, root, logical.UpdateOperation, "sys/auth/ci", map[string]any{"type": "claims"})
	auths := mustCall(t, c, root, logical.ReadOperation, "sys/auth", nil)
	acc := auths.Data["ci/"].(map[string]any)["accessor"].(string)
	pol := `path "secret/data/ci/{{identity.entity.aliases.` + acc + `.metadata.repository}}/*" { capabilities = ["read"] }`
	mustCall(t, c, root, logical.UpdateOperation, "sys/policies/acl/per-repo", map[string]any{"policy": pol})
	for _, p := range []string{"secret/data/ci/octo/app/db", "secret/data/ci/octo/other/db", "secret/data/ci/x/db"} {
		mustCall(t, c, root, logical.UpdateOperation, p, map[string]any{"data": map[string]any{"v": p}})
	}
	login := func(repo string) string {
		resp := mustCall(t, c, "", logical.UpdateOperation, "auth/ci/login", map[string]any{"alias": "job-" + repo, "repository": repo})
		return resp.Auth.ClientToken.Reveal()
	}
	tok := login("octo/app")
	if _, err := call(t, c, tok, logical.ReadOperation, "secret/data/ci/octo/app/db", nil); err != nil {
		t.Fatalf("own repository: %v", err)
	}
	if _, err := call(t, c, tok, logical.ReadOperation, "secret/data/ci/octo/other/db", nil); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("other repository: %v, want permission denied", err)
	}
	for _, hostile := range []string{"*", "+", "octo/*", "..", "octo/../x", "a,b", "{{identity.entity.id}}", ""} {
		tok := login(hostile)
		for _, p := range []string{"secret/data/ci/octo/app/db", "secret/data/ci/x/db", "secret/data/ci/octo/other/db"} {
			if _, err := call(t, c, tok, logical.ReadOperation, p, nil); !errors.Is(err, logical.ErrPermissionDenied) {
				t.Errorf("repository %q read %s: %v, want permission denied", hostile, p, err)
			}
		}
	}
}
