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
	"net/http"
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

// Backend is one AppRole mount. It is safe for concurrent use.
type Backend struct {
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
	return &Backend{view: view, now: now, key: key, lock: lockout.New(lockoutPrefix, now)}, nil
}

// UnauthenticatedPaths implements logical.Unauthenticated.
func (b *Backend) UnauthenticatedPaths() []string { return []string{"login"} }

func (b *Backend) hash(kind, v string) string {
	m := hmac.New(sha256.New, b.key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil))
}

// HandleRequest implements logical.Backend.
func (b *Backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	p := strings.TrimSuffix(req.Path, "/")
	op := req.Operation
	write := op == logical.UpdateOperation || op == logical.CreateOperation
	switch {
	case p == "login":
		if !write {
			return nil, logical.ErrUnsupportedOperation
		}
		return b.login(ctx, req)
	case p == "role":
		if op != logical.ListOperation {
			return nil, logical.ErrUnsupportedOperation
		}
		return b.listRoles(ctx)
	case p == "config":
		return b.config(ctx, req)
	case p == "tidy/secret-id":
		if !write {
			return nil, logical.ErrUnsupportedOperation
		}
		if err := logical.UnknownFields(req.Data); err != nil {
			return nil, err
		}
		return b.tidy(ctx)
	case strings.HasPrefix(p, "role/"):
		name, sub, _ := strings.Cut(strings.TrimPrefix(p, "role/"), "/")
		name = strings.ToLower(name)
		if !roleNameRE.MatchString(name) {
			return nil, logical.BadRequest("invalid role name")
		}
		return b.rolePath(ctx, req, name, sub)
	}
	return nil, logical.Errorf(http.StatusNotFound, "unsupported path %q", req.Path)
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

// ExistenceCheck implements logical.ExistenceChecker for role/NAME.
func (b *Backend) ExistenceCheck(ctx context.Context, req *logical.Request) (found, exists bool, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSuffix(req.Path, "/"), "role/")
	if !ok || strings.Contains(rest, "/") {
		return false, false, nil
	}
	r, err := b.role(ctx, strings.ToLower(rest))
	return true, r != nil, err
}

func (b *Backend) config(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	c, err := b.lockoutConfig(ctx)
	if err != nil {
		return nil, err
	}
	switch req.Operation {
	case logical.ReadOperation:
		out := map[string]any{}
		c.Map(out)
		return &logical.Response{Data: out}, nil
	case logical.UpdateOperation, logical.CreateOperation:
		if err := logical.UnknownFields(req.Data, lockout.Fields...); err != nil {
			return nil, err
		}
		if err := c.Parse(req.Data); err != nil {
			return nil, err
		}
		return nil, logical.PutJSON(ctx, b.view, configKey, c)
	}
	return nil, logical.ErrUnsupportedOperation
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
