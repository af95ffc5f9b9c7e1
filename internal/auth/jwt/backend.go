package jwt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
)

// Options tunes a Backend; the zero value is production behaviour.
type Options struct {
	// Now is the clock for token time checks and JWKS caching (default
	// time.Now); tests inject a skewed clock.
	Now func() time.Time
}

// Backend serves one jwt (or oidc) auth mount. It is safe for concurrent
// use; config and roles live in the request's storage, and the parsed
// config with its key cache is reused while the stored config is unchanged.
type Backend struct {
	*logical.Router
	now func() time.Time

	mu  sync.Mutex
	cur *state

	// roleMu orders role writes, deletes and the one-time migration of
	// roles stored in the old shape (loadRole).
	roleMu sync.Mutex
}

// state is a parsed config and its key set, tied to the stored bytes.
type state struct {
	raw  []byte
	cfg  Config
	keys *keySet
}

var (
	_ logical.Backend          = (*Backend)(nil)
	_ logical.Unauthenticated  = (*Backend)(nil)
	_ logical.ExistenceChecker = (*Backend)(nil)
)

// Factory builds a jwt auth method for a new mount; register it as the
// "jwt" and "oidc" auth types.
func Factory(_ context.Context, _ *logical.BackendConfig) (logical.Backend, error) {
	return New(Options{}), nil
}

// New returns a Backend.
func New(opts Options) *Backend {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	b := &Backend{now: now}
	b.Router = logical.NewRouter(backendHelp, b.routes()...)
	return b
}

// HandleRequest implements logical.Backend through the routes (paths.go);
// handlers may read req.Data without a nil check.
func (b *Backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if req.Data == nil {
		req.Data = map[string]any{}
	}
	return b.Router.HandleRequest(ctx, req)
}

func (b *Backend) readConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	c, _, err := loadConfig(ctx, req.Storage)
	if err != nil || c == nil {
		return nil, err
	}
	return &logical.Response{Data: c.view()}, nil
}

// writeConfig validates the config and, for remote keys, fetches discovery
// and the JWKS once, so a wrong URL or CA is reported now rather than at
// the first login.
func (b *Backend) writeConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	old, _, err := loadConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	base := Config{}
	if old != nil {
		base = *old
	}
	c, err := parseConfig(base, req.Data)
	if err != nil {
		return nil, err
	}
	ks, err := c.keySet(b.now)
	if err != nil {
		return nil, err
	}
	if err := ks.ensure(ctx); err != nil {
		return nil, logical.BadRequest("%v", err)
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	if err := req.Storage.Put(ctx, configKey, raw); err != nil {
		return nil, fmt.Errorf("store config: %w", err)
	}
	b.mu.Lock()
	b.cur = &state{raw: raw, cfg: c, keys: ks}
	b.mu.Unlock()
	return nil, nil
}

// state returns the parsed config and key set for the stored config, nil
// when unconfigured. The cache follows the stored bytes, so a config
// written through another node is picked up.
func (b *Backend) state(ctx context.Context, s logical.Storage) (*state, error) {
	c, raw, err := loadConfig(ctx, s)
	if err != nil || c == nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != nil && bytes.Equal(b.cur.raw, raw) {
		return b.cur, nil
	}
	ks, err := c.keySet(b.now)
	if err != nil {
		return nil, err
	}
	b.cur = &state{raw: raw, cfg: *c, keys: ks}
	return b.cur, nil
}

func (b *Backend) writeRole(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	old, _, err := getRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	base := newRole()
	if old != nil {
		base = *old
	}
	r, err := parseRole(base, req.Data)
	if err != nil {
		return nil, err
	}
	if err := putRole(ctx, req.Storage, name, &r); err != nil {
		return nil, err
	}
	var warnings []string
	for _, f := range Lint(&r, nil) {
		if f.Severity == SeverityHigh {
			warnings = append(warnings, f.Code+": "+f.Message)
		}
	}
	if len(warnings) == 0 {
		return nil, nil
	}
	return &logical.Response{Warnings: warnings}, nil
}

func (b *Backend) lintRole(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	r, err := b.loadRole(ctx, req.Storage, name)
	if err != nil || r == nil {
		return nil, err
	}
	c, _, err := loadConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	findings := Lint(r, c)
	list := make([]any, 0, len(findings))
	for _, f := range findings {
		list = append(list, map[string]any{"severity": string(f.Severity), "code": f.Code, "message": f.Message})
	}
	return &logical.Response{Data: map[string]any{"role": name, "findings": list}}, nil
}

// FieldAliases names the legacy fields this method accepts, so the core
// checks parameter constraints on the current names (logical.FieldAliaser).
func (b *Backend) FieldAliases() map[string]string { return fieldAliases }

var fieldAliases = tokenparams.WithAliases(nil)
