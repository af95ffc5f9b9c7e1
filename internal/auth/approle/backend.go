// Package approle is the AppRole auth method (auth/approle): machines log in
// with a role_id and a secret_id. secret_ids are stored only as keyed
// hashes (HMAC-SHA256 with a per-mount key kept behind the barrier), use
// counts are consumed atomically, and every failed login answers the same
// error after the same work, whichever part was wrong. It never logs or
// returns a stored secret_id.
package approle

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/auth/lockout"
	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
)

// Storage layout inside the mount's view.
const (
	saltKey       = "salt"
	configKey     = "config"
	rolePrefix    = "role/"     // role/NAME -> role
	roleIDPrefix  = "role_id/"  // role_id/HMAC(role_id) -> role name
	secretPrefix  = "secret/"   // secret/NAME/HMAC(secret_id) -> secretID
	accessorPrefx = "accessor/" // accessor/NAME/ACCESSOR -> HMAC(secret_id)
	lockoutPrefix = "lockout/"
)

var roleNameRE = regexp.MustCompile(`^[a-z0-9_.-]{1,128}$`)

// Backend is one AppRole mount. It is safe for concurrent use. Its routes
// (paths.go) serve HandleRequest, UnauthenticatedPaths, ExistenceCheck
// and path-help.
type Backend struct {
	*logical.Router
	view logical.Storage
	now  func() time.Time
	key  []byte
	lock *lockout.Tracker

	// mu serialises secret_id consumption and changes, so a use count is
	// spent exactly once however many logins race.
	mu sync.Mutex
}

// Factory builds a Backend for a new mount (logical.Factory).
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	return New(ctx, conf.Storage, nil)
}

// New opens the mount's state in view; now is the clock (nil: time.Now).
func New(ctx context.Context, view logical.Storage, now func() time.Time) (*Backend, error) {
	if now == nil {
		now = time.Now
	}
	key, err := logical.LoadOrCreateKey(ctx, view, saltKey, 32)
	if err != nil {
		return nil, fmt.Errorf("approle: hash key: %w", err)
	}
	b := &Backend{view: view, now: now, key: key, lock: lockout.New(lockoutPrefix, now)}
	b.Router = logical.NewRouter(backendHelp, b.routes()...)
	return b, nil
}

func (b *Backend) hash(kind, v string) string {
	m := hmac.New(sha256.New, b.key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil))
}

// CanonicalPath names the role a role/NAME[/...] request acts on: NAME in
// lower case, as stored, so the core authorizes role/PROD as role/prod too
// (logical.Aliaser).
func (b *Backend) CanonicalPath(req *logical.Request) string {
	rest, ok := strings.CutPrefix(strings.TrimSuffix(req.Path, "/"), "role/")
	if !ok {
		return ""
	}
	name, sub, hasSub := strings.Cut(rest, "/")
	n := strings.ToLower(name)
	if n == name {
		return ""
	}
	if hasSub {
		return "role/" + n + "/" + sub
	}
	return "role/" + n
}

func (b *Backend) readConfig(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	c, err := b.lockoutConfig(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	c.Map(out)
	return &logical.Response{Data: out}, nil
}

func (b *Backend) writeConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	c, err := b.lockoutConfig(ctx)
	if err != nil {
		return nil, err
	}
	if err := lockout.FieldDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	if err := c.Parse(req.Data); err != nil {
		return nil, err
	}
	return nil, logical.PutJSON(ctx, b.view, configKey, c)
}

func (b *Backend) lockoutConfig(ctx context.Context) (lockout.Config, error) {
	var c lockout.Config
	_, err := logical.GetJSON(ctx, b.view, configKey, &c)
	return c, err
}

// FieldAliases names the legacy fields this method accepts, so the core
// checks parameter constraints on the current names (logical.FieldAliaser).
func (b *Backend) FieldAliases() map[string]string { return fieldAliases }

var fieldAliases = tokenparams.WithAliases(map[string]string{"bound_cidr_list": "secret_id_bound_cidrs", "period": "token_period"})
