package logical_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/auth/approle"
	"github.com/keyward/keyward/internal/auth/cert"
	"github.com/keyward/keyward/internal/auth/jwt"
	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/auth/userpass"
	"github.com/keyward/keyward/internal/engine/database"
	"github.com/keyward/keyward/internal/engine/kv"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/sensitive"
)

// The unknown-field rule over every write endpoint of the auth methods and
// engines (issue 10 item 9): an unknown field is refused with a 400 naming
// it, except on KV metadata and config, which warn as Vault does. sys/
// endpoints are covered in internal/node (security_test.go).
func TestEveryWriteEndpointRefusesUnknownFields(t *testing.T) {
	const bogus = "zz_unknown_field"
	type endpoint struct {
		path string
		data map[string]any // a valid request without the bogus field
		warn bool           // answered with a warning instead of a 400
	}
	tests := []struct {
		backend   string
		factory   func(t *testing.T, st logical.Storage) logical.Backend
		setup     []endpoint // written first, must succeed
		endpoints []endpoint
	}{
		{
			backend: "token",
			factory: func(t *testing.T, st logical.Storage) logical.Backend {
				s, err := token.New(t.Context(), st, token.Options{})
				if err != nil {
					t.Fatal(err)
				}
				return s.Backend()
			},
			setup: []endpoint{{path: "roles/r", data: map[string]any{"allowed_policies": "a"}}},
			endpoints: []endpoint{
				{path: "create", data: map[string]any{"policies": "a"}},
				{path: "create-orphan", data: map[string]any{"policies": "a"}},
				{path: "create/r", data: map[string]any{}},
				{path: "roles/r", data: map[string]any{"allowed_policies": "a"}},
				{path: "lookup", data: map[string]any{"token": "x"}},
				{path: "lookup-self", data: map[string]any{}},
				{path: "lookup-accessor", data: map[string]any{"accessor": "x"}},
				{path: "renew", data: map[string]any{"token": "x"}},
				{path: "renew-self", data: map[string]any{}},
				{path: "renew-accessor", data: map[string]any{"accessor": "x"}},
				{path: "revoke", data: map[string]any{"token": "x"}},
				{path: "revoke-self", data: map[string]any{}},
				{path: "revoke-accessor", data: map[string]any{"accessor": "x"}},
				{path: "revoke-orphan", data: map[string]any{"token": "x"}},
				{path: "tidy", data: map[string]any{}},
			},
		},
		{
			backend: "approle",
			factory: factory(approle.Factory),
			setup:   []endpoint{{path: "role/r", data: map[string]any{"token_policies": "a"}}},
			endpoints: []endpoint{
				{path: "role/r", data: map[string]any{"token_policies": "a"}},
				{path: "role/r/role-id", data: map[string]any{"role_id": "abcdefgh-1234"}},
				{path: "role/r/secret-id", data: map[string]any{}},
				{path: "role/r/custom-secret-id", data: map[string]any{"secret_id": "s3cr3t-1234567890"}},
				{path: "role/r/secret-id/lookup", data: map[string]any{"secret_id": "x"}},
				{path: "role/r/secret-id/destroy", data: map[string]any{"secret_id": "x"}},
				{path: "role/r/secret-id-accessor/lookup", data: map[string]any{"secret_id_accessor": "x"}},
				{path: "role/r/secret-id-accessor/destroy", data: map[string]any{"secret_id_accessor": "x"}},
				{path: "login", data: map[string]any{"role_id": "x", "secret_id": "y"}},
				{path: "config", data: map[string]any{}},
				{path: "tidy/secret-id", data: map[string]any{}},
			},
		},
		{
			backend: "userpass",
			factory: factory(userpass.Factory),
			setup:   []endpoint{{path: "users/u", data: map[string]any{"password": "correct horse battery", "token_policies": "a"}}},
			endpoints: []endpoint{
				{path: "users/u", data: map[string]any{"password": "correct horse battery"}},
				{path: "users/u/password", data: map[string]any{"password": "correct horse battery 2"}},
				{path: "users/u/policies", data: map[string]any{"token_policies": "a"}},
				{path: "login/u", data: map[string]any{"password": "correct horse battery"}},
				{path: "config", data: map[string]any{}},
			},
		},
		{
			backend: "jwt",
			factory: factory(jwt.Factory),
			endpoints: []endpoint{
				{path: "config", data: map[string]any{"bound_issuer": "https://issuer.example"}},
				{path: "role/r", data: map[string]any{"bound_audiences": "a", "user_claim": "sub", "bound_subject": "x"}},
				{path: "login", data: map[string]any{"role": "r", "jwt": "x"}},
			},
		},
		{
			backend: "cert",
			factory: factory(cert.Factory),
			endpoints: []endpoint{
				{path: "certs/c", data: map[string]any{}},
				{path: "crls/c", data: map[string]any{}},
				{path: "config", data: map[string]any{}},
				{path: "login", data: map[string]any{}},
			},
		},
		{
			backend: "database",
			factory: factory(database.Factory),
			endpoints: []endpoint{
				{path: "config/db", data: map[string]any{"plugin_name": "postgresql-database-plugin", "connection_url": "x"}},
				{path: "roles/r", data: map[string]any{"db_name": "db", "creation_statements": "x"}},
				{path: "static-roles/r", data: map[string]any{"db_name": "db", "username": "u"}},
				{path: "rotate-root/db", data: map[string]any{}},
				{path: "rotate-role/r", data: map[string]any{}},
				{path: "reset/db", data: map[string]any{}},
			},
		},
		{
			backend: "kv-v2",
			factory: factory(kv.Factory),
			setup:   []endpoint{{path: "data/x", data: map[string]any{"data": map[string]any{"k": "v"}}}},
			endpoints: []endpoint{
				{path: "data/x", data: map[string]any{"data": map[string]any{"k": "v"}}},
				{path: "delete/x", data: map[string]any{"versions": []any{1}}},
				{path: "undelete/x", data: map[string]any{"versions": []any{1}}},
				{path: "destroy/x", data: map[string]any{"versions": []any{1}}},
				{path: "metadata/x", data: map[string]any{"max_versions": 3}, warn: true},
				{path: "config", data: map[string]any{"max_versions": 3}, warn: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.backend, func(t *testing.T) {
			st := &logicaltest.InmemStorage{}
			b := tt.factory(t, st)
			tok := rootToken(t, st, tt.backend)
			do := func(ep endpoint, data map[string]any) (*logical.Response, error) {
				return b.HandleRequest(t.Context(), &logical.Request{
					Operation:   logical.UpdateOperation,
					Path:        ep.path,
					Data:        data,
					Storage:     st,
					MountPoint:  "m/",
					ClientToken: sensitive.NewString(tok),
					Connection:  &logical.Connection{RemoteAddr: "127.0.0.1"},
				})
			}
			for _, ep := range tt.setup {
				if _, err := do(ep, ep.data); err != nil {
					t.Fatalf("setup %s: %v", ep.path, err)
				}
			}
			for _, ep := range tt.endpoints {
				data := map[string]any{bogus: true}
				for k, v := range ep.data {
					data[k] = v
				}
				resp, err := do(ep, data)
				if ep.warn {
					if err != nil || resp == nil || len(resp.Warnings) == 0 || !strings.Contains(resp.Warnings[0], bogus) {
						t.Errorf("%s with an unknown field = %+v, %v; want a warning naming it", ep.path, resp, err)
					}
					continue
				}
				status, msg, _ := logical.StatusOf(err)
				if status != http.StatusBadRequest || !strings.Contains(msg, bogus) {
					t.Errorf("%s with an unknown field = %d %q, want 400 naming it", ep.path, status, msg)
				}
			}
		})
	}
}

func factory(f logical.Factory) func(t *testing.T, st logical.Storage) logical.Backend {
	return func(t *testing.T, st logical.Storage) logical.Backend {
		b, err := f(context.Background(), &logical.BackendConfig{MountPoint: "m/", Storage: st, Options: map[string]string{"version": "2"}}) // kv: version 2
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// rootToken returns a root token of the token store in st, for the token
// backend; other backends get none.
func rootToken(t *testing.T, st logical.Storage, backend string) string {
	if backend != "token" {
		return ""
	}
	s, err := token.New(t.Context(), st, token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Create(t.Context(), &token.Entry{Policies: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
