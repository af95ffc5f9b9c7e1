// Package userpass is the username and password auth method
// (auth/userpass), with Argon2id password hashes, a TOTP second factor
// (RFC 6238, codes never accepted twice) required per user (mfa_required)
// or per policy (the mount's mfa_policies), and lockout after repeated
// failures. Usernames are canonical (trimmed, NFKC, lower case), so "Alice"
// and "alice" are one user with one failure counter. Every failed login,
// whether the user exists, is locked or gave a wrong password or code, runs
// one Argon2id hash and answers the same error; only a caller who gave the
// right password learns that the user needs a TOTP key enrolled. It never
// logs or returns a password, hash or TOTP secret after enrollment.
package userpass

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/auth/lockout"
	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
)

const (
	userPrefix    = "user/"
	configKey     = "config"
	lockoutPrefix = "lockout/"
	maxNameLen    = 256
	// maxPasswordLen bounds the work one request can ask of Argon2id.
	maxPasswordLen = 4096
)

// Options tunes New. The zero value is usable.
type Options struct {
	Now    func() time.Time
	Params Params // zero: DefaultParams
	// OnHash, when set, is called once per Argon2id computation (tests
	// count them to show every login path does the same work).
	OnHash func()
	// Issuer names the service in TOTP provisioning URLs (default Keyward).
	Issuer string
}

// Backend is one userpass mount. It is safe for concurrent use. Its
// routes (paths.go) serve HandleRequest, UnauthenticatedPaths,
// ExistenceCheck and path-help.
type Backend struct {
	*logical.Router
	view  logical.Storage
	opts  Options
	lock  *lockout.Tracker
	dummy parsedHash
	// sem bounds concurrent Argon2id runs (each holds Params.Memory).
	sem chan struct{}
	// mu serialises user record updates (TOTP step, password changes).
	mu sync.Mutex
}

// Factory builds a Backend for a new mount (logical.Factory).
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	return New(ctx, conf.Storage, Options{})
}

// New returns a backend over view.
func New(_ context.Context, view logical.Storage, opts Options) (*Backend, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Params == (Params{}) {
		opts.Params = DefaultParams
	}
	if opts.Issuer == "" {
		opts.Issuer = "Keyward"
	}
	// A valid hash of a random password, verified for unknown users so
	// they cost what known ones do.
	dummy, err := parseHash(hashPassword(rand.Text(), opts.Params))
	if err != nil {
		return nil, fmt.Errorf("userpass: dummy hash: %w", err)
	}
	b := &Backend{
		view:  view,
		opts:  opts,
		lock:  lockout.New(lockoutPrefix, opts.Now),
		dummy: dummy,
		sem:   make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
	}
	b.Router = logical.NewRouter(backendHelp, b.routes()...)
	return b, nil
}

// CanonicalPath names the user a users/NAME[/...] request acts on: NAME as
// stored (canonicalName folds case and width), so the core authorizes
// users/ADMIN as users/admin too (logical.Aliaser).
func (b *Backend) CanonicalPath(req *logical.Request) string {
	rest, ok := strings.CutPrefix(strings.TrimSuffix(req.Path, "/"), "users/")
	if !ok {
		return ""
	}
	name, sub, hasSub := strings.Cut(rest, "/")
	n, err := canonicalName(name)
	if err != nil || n == name {
		return ""
	}
	if hasSub {
		return "users/" + n + "/" + sub
	}
	return "users/" + n
}

// canonicalName is the stored form of a username.
func canonicalName(s string) (string, error) {
	n := lockout.Canonical(s)
	if n == "" || len(n) > maxNameLen || strings.ContainsAny(n, "/\x00") {
		return "", logical.BadRequest("invalid username")
	}
	return n, nil
}

// mountConfig is the stored auth/userpass/config: the lockout settings
// (stored flat, as before mfa_policies existed) and the policies whose
// holders must pass TOTP.
type mountConfig struct {
	lockout.Config
	// MFAPolicies lists policy names: a user whose token policies include
	// one of them needs a TOTP code even without mfa_required.
	MFAPolicies []string `json:"mfa_policies,omitempty"`
}

var configDocs = logical.Fields{
	{Name: "mfa_policies", Type: logical.TypeSlice, Description: "Policies whose holders must pass TOTP at login, even without mfa_required."},
}.With(lockout.FieldDocs...)

// requiresMFA reports whether u must pass TOTP: mfa_required, or a token
// policy (including the default policy the core adds unless
// token_no_default_policy) listed in mfa_policies.
func (c mountConfig) requiresMFA(u *user) bool {
	if u.MFARequired {
		return true
	}
	for _, p := range c.MFAPolicies {
		if slices.Contains(u.Token.Policies, p) || (p == "default" && !u.Token.NoDefaultPolicy) {
			return true
		}
	}
	return false
}

func (b *Backend) readConfig(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	c, err := b.mountConfig(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"mfa_policies": append([]string{}, c.MFAPolicies...)}
	c.Map(out)
	return &logical.Response{Data: out}, nil
}

func (b *Backend) writeConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	c, err := b.mountConfig(ctx)
	if err != nil {
		return nil, err
	}
	if err := configDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	if err := c.Parse(req.Data); err != nil {
		return nil, err
	}
	if v, ok, err := logical.Strings(req.Data, "mfa_policies"); err != nil {
		return nil, err
	} else if ok {
		c.MFAPolicies = tokenparams.NormalizePolicies(v)
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return nil, b.view.Put(ctx, configKey, raw)
}

func (b *Backend) mountConfig(ctx context.Context) (mountConfig, error) {
	var c mountConfig
	raw, err := b.view.Get(ctx, configKey)
	if err != nil || raw == nil {
		return c, err
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("decode userpass config: %w", err)
	}
	return c, nil
}

// argon runs one Argon2id verification, bounded by the semaphore.
func (b *Backend) argon(h parsedHash, password string) bool {
	b.sem <- struct{}{}
	defer func() { <-b.sem }()
	if b.opts.OnHash != nil {
		b.opts.OnHash()
	}
	return h.verify(password)
}

// FieldAliases names the legacy fields this method accepts, so the core
// checks parameter constraints on the current names (logical.FieldAliaser).
func (b *Backend) FieldAliases() map[string]string { return fieldAliases }

var fieldAliases = tokenparams.WithAliases(map[string]string{"bound_cidrs": "token_bound_cidrs"})
