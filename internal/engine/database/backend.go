package database

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/monitor"
	"github.com/keyward/keyward/internal/passpol"
)

// Options tunes the engine. The zero value is usable.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives rotation and revocation events.
	Logger *slog.Logger
	// RetryBase is the first delay after a failed static rotation; it
	// doubles per failure up to the rotation period (default 10s).
	RetryBase time.Duration
	// Metrics receives the rotation counters (default: a registry of the
	// factory's own, which nothing reads).
	Metrics *monitor.Registry
}

// PasswordGenerator is implemented by a SystemView that serves named
// password policies (sys/policies/password). Without it only the default
// policy is available.
type PasswordGenerator interface {
	GeneratePasswordFromPolicy(ctx context.Context, policy string) (string, error)
}

// Factory builds a database engine with default options.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	return NewFactory(Options{})(ctx, conf)
}

// NewFactory returns a factory building engines with opts.
func NewFactory(opts Options) logical.Factory {
	if opts.Metrics == nil {
		opts.Metrics = monitor.NewRegistry()
	}
	m := newMetrics(opts.Metrics)
	return func(_ context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
		if conf == nil || conf.Storage == nil {
			return nil, errors.New("database: storage is required")
		}
		if opts.Now == nil {
			opts.Now = time.Now
		}
		if opts.Logger == nil {
			opts.Logger = slog.New(slog.DiscardHandler)
		}
		if opts.RetryBase <= 0 {
			opts.RetryBase = 10 * time.Second
		}
		b := &Backend{
			view:   conf.Storage,
			sys:    conf.System,
			opts:   opts,
			met:    m,
			logger: opts.Logger.With("component", "database", "mount", conf.MountPoint),
			conns:  map[string]*conn{},
			kick:   make(chan struct{}, 1),
		}
		b.Router = logical.NewRouter(backendHelp, b.routes()...)
		b.ctx, b.cancel = context.WithCancel(context.Background())
		b.wg.Add(1)
		go b.rotationLoop()
		return b, nil
	}
}

// Backend is the database secrets engine. It is safe for concurrent use.
// Its routes (paths.go) serve HandleRequest and path-help.
type Backend struct {
	*logical.Router
	view   logical.Storage
	sys    logical.SystemView
	opts   Options
	met    metrics
	logger *slog.Logger

	mu    sync.Mutex
	conns map[string]*conn

	rotMu sync.Mutex // serialises static and root rotations

	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var (
	_ logical.Backend = (*Backend)(nil)
	_ logical.Revoker = (*Backend)(nil)
	_ logical.Renewer = (*Backend)(nil)
	_ logical.Cleaner = (*Backend)(nil)
)

// conn is one configured database. lock is held for reading while the
// admin connection is used and for writing while it is replaced (root
// rotation, reset, reconfiguration).
type conn struct {
	lock sync.RWMutex
	d    driver // nil until opened
}

// Cleanup stops the rotation loop and closes every connection.
func (b *Backend) Cleanup(context.Context) {
	b.cancel()
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	for name, c := range b.conns {
		c.lock.Lock()
		if c.d != nil {
			c.d.Close()
			c.d = nil
		}
		c.lock.Unlock()
		delete(b.conns, name)
	}
}

var nameRE = regexp.MustCompile(`^[^/\x00-\x1f]{1,256}$`)

func validName(n string) error {
	if !nameRE.MatchString(n) || strings.TrimSpace(n) != n {
		return logical.BadRequest("invalid name")
	}
	return nil
}

func orNotFound(err error, what, name string) error {
	if err != nil {
		return err
	}
	return logical.Errorf(http.StatusNotFound, "%s %q not found", what, name)
}

// storage helpers

// password generates a password from the named policy (the default policy
// when empty).
func (b *Backend) password(ctx context.Context, policy string) (string, error) {
	if policy == "" {
		return passpol.Default.Generate()
	}
	g, ok := b.sys.(PasswordGenerator)
	if !ok {
		return "", logical.BadRequest("password policy %q: password policies are not available on this server", policy)
	}
	return g.GeneratePasswordFromPolicy(ctx, policy)
}

// toStrings reads a []string that may have come back from JSON as []any.
func toStrings(v any) []string {
	switch t := v.(type) {
	case []string:
		return t
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func allowed(list []string, role string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, role)
}
