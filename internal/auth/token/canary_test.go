package token_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/logical"
)

// TestCanaryNoTokenInLogsOrErrors runs every operation, failing ones
// included, with debug logging, and checks that no raw token appears in the
// logs, errors or non-create responses.
func TestCanaryNoTokenInLogsOrErrors(t *testing.T) {
	var logs clocktest.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	failHook := true
	f := newFixture(t, token.Options{Logger: logger, OnRevoke: func(_ context.Context, e *token.Entry) error {
		logger.Info("hook", "entry", e) // LogValue must hide the token
		if failHook {
			failHook = false
			return errors.New("hook failed")
		}
		return nil
	}})
	ctx := context.Background()
	var secrets []string
	var out []string // errors and responses that must not hold a token
	note := func(v any, err error) {
		if err != nil {
			out = append(out, err.Error())
		}
		if v != nil {
			b, _ := json.Marshal(v)
			out = append(out, string(b), fmt.Sprintf("%v %+v", v, v))
		}
	}
	mk := func(data map[string]any) *logical.Auth {
		a := createAuth(t, f, "create", f.root, data)
		secrets = append(secrets, a.ClientToken.Reveal())
		return a
	}
	secrets = append(secrets, f.root)
	a := mk(map[string]any{"policies": "dev", "num_uses": 2})
	b := mk(map[string]any{"policies": "dev", "ttl": "1m"})
	c := mk(map[string]any{"policies": "dev", "id": "canary-custom-id-0001"})
	child := createAuth(t, f, "create", b.ClientToken.Reveal(), map[string]any{"policies": "dev"})
	secrets = append(secrets, child.ClientToken.Reveal())
	batch := createAuth(t, f, "create", b.ClientToken.Reveal(), map[string]any{"policies": "dev", "type": "batch"})
	secrets = append(secrets, batch.ClientToken.Reveal())

	for _, tok := range []string{a.ClientToken.Reveal(), b.ClientToken.Reveal(), c.ClientToken.Reveal(), child.ClientToken.Reveal(), batch.ClientToken.Reveal()} {
		note(f.store.Use(ctx, tok, "127.0.0.1"))
		note(f.store.Use(ctx, tok+"x", "127.0.0.1"))
		note(f.store.Lookup(ctx, tok))
		note(f.store.Renew(ctx, tok, time.Hour))
		// Tokens pasted into every field of failing requests.
		for _, path := range []string{"create", "renew", "lookup", "roles/x"} {
			note(f.do(t, logical.UpdateOperation, path, a.ClientToken.Reveal(), map[string]any{
				"policies": []any{tok}, "ttl": tok, "num_uses": tok, "meta": tok, "type": tok,
				"token": tok + "x", "increment": tok, "allowed_policies": tok, "token_bound_cidrs": tok,
				"path_suffix": tok, "renewable": tok,
			}))
		}
		note(f.do(t, logical.UpdateOperation, "lookup-accessor", f.root, map[string]any{"accessor": tok}))
		note(f.do(t, logical.UpdateOperation, "revoke-accessor", f.root, map[string]any{"accessor": tok}))
		note(f.do(t, logical.ReadOperation, "lookup-self", tok+"x", nil))
		// Their responses carry tokens by design; only the errors count.
		_, err := f.do(t, logical.UpdateOperation, "renew-self", tok, nil)
		note(nil, err)
		_, err = f.do(t, logical.UpdateOperation, "create", tok, map[string]any{"policies": "dev"})
		note(nil, err)
		note(nil, f.store.Revoke(ctx, tok[:len(tok)-1]))
	}
	note(f.do(t, logical.UpdateOperation, "revoke-self", batch.ClientToken.Reveal(), nil))
	note(f.do(t, logical.UpdateOperation, "batch-key/rotate", f.root, nil))
	_, _, err := f.store.CreateFromAuth(ctx, &logical.Auth{Policies: []string{a.ClientToken.Reveal()}}, nil, "auth/x/login")
	note(nil, err)
	note(f.store.Create(ctx, &token.Entry{ID: c.ClientToken, Policies: []string{"a"}}))
	note(nil, f.store.Revoke(ctx, b.ClientToken.Reveal())) // the hook fails once
	f.clock.Add(time.Hour)
	note(f.store.Sweep(ctx))
	note(nil, f.store.RevokeOrphan(ctx, c.ClientToken.Reveal()))
	note(f.do(t, logical.UpdateOperation, "tidy", f.root, nil))

	all := logs.String() + strings.Join(out, "\n")
	if !strings.Contains(logs.String(), a.Accessor) {
		t.Fatalf("canary test saw no log lines naming accessors; logging not exercised")
	}
	for _, s := range secrets {
		if strings.Contains(all, s) || strings.Contains(all, s[4:min(len(s), 24)]) {
			t.Errorf("a raw token appears in logs, errors or responses")
		}
	}
}
