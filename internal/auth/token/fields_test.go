package token_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/logical"
)

// Issue 10 item 9: a misspelt or unknown field on a token endpoint is
// refused with a 400 naming it; it never silently yields a more powerful
// token or a looser role.
func TestTokenEndpointsRefuseUnknownFields(t *testing.T) {
	tests := []struct {
		name, path string
		data       map[string]any
		want       string // in the error
	}{
		{"num_uses typo", "create", map[string]any{"policies": "a", "num_usess": 1}, `"num_usess" (did you mean "num_uses"?)`},
		{"explicit_max_ttl typo", "create", map[string]any{"policies": "a", "explicit_max_tll": "1h"}, `"explicit_max_tll" (did you mean "explicit_max_ttl"?)`},
		{"bound_cidrs on create", "create", map[string]any{"policies": "a", "bound_cidrs": "10.0.0.0/8"}, `"bound_cidrs"`},
		{"token_bound_cidrs on create", "create", map[string]any{"policies": "a", "token_bound_cidrs": "10.0.0.0/8"}, `"token_bound_cidrs"`},
		{"ttl typo on create-orphan", "create-orphan", map[string]any{"policies": "a", "tll": "1h"}, `"tll" (did you mean "ttl"?)`},
		{"role create typo", "create/r", map[string]any{"polices": "a"}, `"polices" (did you mean "policies"?)`},
		{"entity alias", "create", map[string]any{"policies": "a", "entity_alias": "alice"}, `"entity_alias" is not supported`},
		{"role typo", "roles/r2", map[string]any{"disallowed_polices": "admin"}, `"disallowed_polices" (did you mean "disallowed_policies"?)`},
		{"role cidr typo", "roles/r2", map[string]any{"bound_cidr": "10.0.0.0/8"}, `"bound_cidr" (did you mean "bound_cidrs"?)`},
		{"role glob not supported", "roles/r2", map[string]any{"disallowed_policies_glob": "admin*"}, `"disallowed_policies_glob" is not supported`},
		{"role use limit not supported", "roles/r2", map[string]any{"token_num_uses": 3}, `"token_num_uses" is not supported`},
		{"lookup", "lookup", map[string]any{"tokn": "x"}, `"tokn" (did you mean "token"?)`},
		{"renew-self", "renew-self", map[string]any{"incremnt": "1h"}, `"incremnt" (did you mean "increment"?)`},
		{"revoke-accessor", "revoke-accessor", map[string]any{"accesor": "x"}, `"accesor" (did you mean "accessor"?)`},
		{"tidy", "tidy", map[string]any{"all": true}, `"all"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, token.Options{})
			if _, err := f.do(t, opUpdate, "roles/r", f.root, map[string]any{"allowed_policies": "a"}); err != nil {
				t.Fatal(err)
			}
			before := dump(t, f.st)
			_, err := f.do(t, opUpdate, tt.path, f.root, tt.data)
			if codeOf(err) != 400 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%s %v = %v, want a 400 containing %s", tt.path, tt.data, err, tt.want)
			}
			if after := dump(t, f.st); len(after) != len(before) {
				t.Errorf("a refused request changed the store: %d keys before, %d after", len(before), len(after))
			}
		})
	}
}

// What the official Go client sends (TokenCreateRequest always carries
// display_name, num_uses, type and entity_alias) and Vault's zero-valued
// role fields keep working.
func TestTokenEndpointsAcceptClientShapes(t *testing.T) {
	f := newFixture(t, token.Options{})
	for _, tt := range []struct {
		path string
		data map[string]any
	}{
		{"create", map[string]any{"policies": []any{"a"}, "display_name": "", "num_uses": 0, "type": "", "entity_alias": "", "renewable": true}},
		{"roles/r", map[string]any{"allowed_policies": "a", "token_num_uses": 0, "allowed_entity_aliases": []any{}, "allowed_policies_glob": "", "token_type": "default-service"}},
		{"create/r", map[string]any{"display_name": "", "num_uses": 0, "type": "", "entity_alias": ""}},
		{"lookup-self", map[string]any{"token": ""}},
	} {
		if _, err := f.do(t, opUpdate, tt.path, f.root, tt.data); err != nil {
			t.Errorf("%s %v = %v", tt.path, tt.data, err)
		}
	}
	a := createAuth(t, f, "create", f.root, map[string]any{"policies": "a"})
	if _, err := f.do(t, logical.UpdateOperation, "renew-self", a.ClientToken.Reveal(), map[string]any{"increment": 0}); err != nil {
		t.Errorf("renew-self = %v", err)
	}
}
