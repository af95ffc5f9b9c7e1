// Package wrapping implements response wrapping: a response is stored behind
// a single-use wrapping token ("kww_...") and the client gets only wrap_info;
// whoever unwraps first gets the response, and a second unwrap fails and is
// logged as suspicious. Wrapping tokens are stored only as keyed hashes, the
// stored responses only through the barrier view the core hands in, and
// neither a token nor a wrapped value is ever logged or returned by lookup.
package wrapping

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/tokenfmt"
)

const (
	keyPrefix = "tok/"
	saltKey   = "salt"
	// DefaultSweepInterval is how often expired wrapping tokens are removed.
	DefaultSweepInterval = time.Minute
	// MaxTTL bounds a wrapping token's lifetime.
	MaxTTL = 768 * time.Hour
)

// ErrInvalid is what every failed unwrap, lookup or rewrap answers, whether
// the token never existed, expired or was already used.
var ErrInvalid = logical.BadRequest("wrapping token is not valid or does not exist")

// Options tunes New. The zero value is usable.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SweepInterval is how often expired tokens are removed (default 1m);
	// negative disables the background sweep (tests call Sweep).
	SweepInterval time.Duration
}

// Wrapper stores wrapped responses. It is safe for concurrent use.
type Wrapper struct {
	view   logical.Storage
	logger *slog.Logger
	now    func() time.Time
	key    []byte // HMAC key for token hashes, kept behind the barrier

	// mu makes unwrap's read-then-consume atomic: exactly one of many
	// concurrent unwraps of a token gets the response.
	mu sync.Mutex

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	// Router serves sys/wrapping/* (paths relative to sys/).
	*logical.Router
}

// entry is one wrapping token's state. After a successful unwrap the
// response is dropped and Used is set: the tombstone lets a second attempt
// be logged with the accessor until the token would have expired.
type entry struct {
	Accessor        string        `json:"accessor"`
	CreationTime    time.Time     `json:"creation_time"`
	TTL             time.Duration `json:"ttl"`
	CreationPath    string        `json:"creation_path"`
	WrappedAccessor string        `json:"wrapped_accessor,omitempty"`
	Used            bool          `json:"used,omitempty"`
	Response        *stored       `json:"response,omitempty"`
}

type stored struct {
	Data     map[string]any  `json:"data,omitempty"`
	Secret   *logical.Secret `json:"secret,omitempty"`
	Auth     *storedAuth     `json:"auth,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
}

// storedAuth is a wrapped login's Auth as persisted (behind the barrier):
// the token, which logical.Auth holds as a sensitive.String that encodes as
// a placeholder, is written explicitly under the key it always had.
type storedAuth struct {
	logical.Auth
	ClientToken string // shadows Auth.ClientToken in the JSON encoding
}

func storeAuth(a *logical.Auth) *storedAuth {
	if a == nil {
		return nil
	}
	return &storedAuth{Auth: *a, ClientToken: a.ClientToken.Reveal()}
}

func (s *storedAuth) auth() *logical.Auth {
	if s == nil {
		return nil
	}
	a := s.Auth
	a.ClientToken = sensitive.NewString(s.ClientToken)
	return &a
}

func (e *entry) expires() time.Time { return e.CreationTime.Add(e.TTL) }

// New loads (or creates) the hashing key from view and starts the sweep.
func New(ctx context.Context, view logical.Storage, logger *slog.Logger, opts Options) (*Wrapper, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	key, err := logical.LoadOrCreateKey(ctx, view, saltKey, 32)
	if err != nil {
		return nil, fmt.Errorf("wrapping: hash key: %w", err)
	}
	w := &Wrapper{view: view, logger: logger.With("component", "wrapping"), now: opts.Now, key: key, stop: make(chan struct{})}
	if opts.SweepInterval > 0 {
		w.wg.Add(1)
		go w.sweepLoop(opts.SweepInterval)
	}
	w.Router = logical.NewRouter(backendHelp, backend{w: w}.routes()...)
	return w, nil
}

// Close stops the sweep.
func (w *Wrapper) Close() error {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
	return nil
}

func (w *Wrapper) sweepLoop(every time.Duration) {
	defer w.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			if n, err := w.Sweep(context.Background()); err != nil {
				w.logger.Error("sweep expired wrapping tokens", "err", err)
			} else if n > 0 {
				w.logger.Debug("swept expired wrapping tokens", "count", n)
			}
		}
	}
}

// Sweep removes expired wrapping tokens and tombstones and returns how
// many it removed.
func (w *Wrapper) Sweep(ctx context.Context) (int, error) {
	keys, err := w.view.List(ctx, keyPrefix)
	if err != nil {
		return 0, fmt.Errorf("list wrapping tokens: %w", err)
	}
	now := w.now()
	n := 0
	for _, k := range keys {
		w.mu.Lock()
		e, err := w.load(ctx, keyPrefix+k)
		if err == nil && e != nil && !now.Before(e.expires()) {
			err = w.view.Delete(ctx, keyPrefix+k)
			if err == nil {
				n++
			}
		}
		w.mu.Unlock()
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (w *Wrapper) storageKey(token string) string {
	m := hmac.New(sha256.New, w.key)
	m.Write([]byte(token))
	return keyPrefix + hex.EncodeToString(m.Sum(nil))
}

func (w *Wrapper) load(ctx context.Context, key string) (*entry, error) {
	raw, err := w.view.Get(ctx, key)
	if err != nil || raw == nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var e entry
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("decode wrapping entry: %w", err)
	}
	return &e, nil
}

func (w *Wrapper) put(ctx context.Context, key string, e *entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode wrapping entry: %w", err)
	}
	return w.view.Put(ctx, key, raw)
}

// Wrap stores resp behind a new wrapping token and returns the response to
// send instead, with only WrapInfo set. The creation path is req's full
// path (mount point plus path).
func (w *Wrapper) Wrap(ctx context.Context, req *logical.Request, resp *logical.Response, ttl time.Duration) (*logical.Response, error) {
	path := req.MountPoint + req.Path
	return w.wrap(ctx, path, &stored{Data: resp.Data, Secret: resp.Secret, Auth: storeAuth(resp.Auth), Warnings: resp.Warnings}, ttl)
}

func (w *Wrapper) wrap(ctx context.Context, path string, s *stored, ttl time.Duration) (*logical.Response, error) {
	if ttl < time.Second {
		return nil, logical.BadRequest("wrapping TTL must be at least one second")
	}
	if ttl > MaxTTL {
		return nil, logical.BadRequest("wrapping TTL must not exceed %s", MaxTTL)
	}
	tok := tokenfmt.Generate(tokenfmt.Wrapping)
	e := &entry{
		Accessor:     rand.Text(),
		CreationTime: w.now().UTC().Truncate(time.Second),
		TTL:          ttl,
		CreationPath: path,
		Response:     s,
	}
	if s.Auth != nil {
		e.WrappedAccessor = s.Auth.Accessor
	}
	if err := w.put(ctx, w.storageKey(tok), e); err != nil {
		return nil, fmt.Errorf("store wrapped response: %w", err)
	}
	w.logger.Debug("response wrapped", "accessor", e.Accessor, "creation_path", path, "ttl", ttl.String())
	return &logical.Response{WrapInfo: &logical.WrapInfo{
		Token:           tok,
		Accessor:        e.Accessor,
		TTL:             ttl,
		CreationTime:    e.CreationTime,
		CreationPath:    path,
		WrappedAccessor: e.WrappedAccessor,
	}}, nil
}

// consume takes the response out of token's entry, leaving a tombstone.
// It returns ErrInvalid for unknown, expired or used tokens (logging reuse
// at warn level).
func (w *Wrapper) consume(ctx context.Context, req *logical.Request, token, op string) (*entry, error) {
	if !tokenfmt.Valid(token) || tokenfmt.Prefix(token) != tokenfmt.Wrapping {
		w.logger.Info("invalid wrapping token presented", "op", op, "remote_addr", remote(req))
		return nil, ErrInvalid
	}
	key := w.storageKey(token)
	w.mu.Lock()
	defer w.mu.Unlock()
	e, err := w.load(ctx, key)
	if err != nil {
		return nil, err
	}
	now := w.now()
	switch {
	case e == nil:
		w.logger.Info("unknown wrapping token presented", "op", op, "remote_addr", remote(req))
		return nil, ErrInvalid
	case !now.Before(e.expires()):
		if err := w.view.Delete(ctx, key); err != nil {
			return nil, err
		}
		w.logger.Info("expired wrapping token presented", "op", op, "accessor", e.Accessor, "remote_addr", remote(req))
		return nil, ErrInvalid
	case e.Used:
		w.logger.Warn("wrapping token used again: its response was already unwrapped, possible interception",
			"op", op, "accessor", e.Accessor, "creation_path", e.CreationPath, "remote_addr", remote(req))
		return nil, ErrInvalid
	}
	tomb := *e
	tomb.Used, tomb.Response = true, nil
	if err := w.put(ctx, key, &tomb); err != nil {
		return nil, fmt.Errorf("consume wrapping token: %w", err)
	}
	return e, nil
}

func remote(req *logical.Request) string {
	if req.Connection == nil {
		return ""
	}
	return req.Connection.RemoteAddr
}

// Backend serves sys/wrapping/{wrap,unwrap,lookup,rewrap} (paths relative
// to sys/; unwrap and lookup are flagged Unauthenticated).
func (w *Wrapper) Backend() logical.Backend { return w }

// backend holds the handlers of the Wrapper's routes.
type backend struct{ w *Wrapper }

const backendHelp = `The wrapping endpoints of sys/ wrap data behind a single-use token, and
unwrap, look up or rewrap a wrapping token. Any request can ask for its
response to be wrapped with the X-Vault-Wrap-TTL header.`

var tokenDocs = logical.Fields{
	{Name: "token", Description: "The wrapping token (default: the request's X-Vault-Token)."},
}

func (b backend) routes() []logical.Route {
	write := func(h logical.Handler) map[logical.Operation]logical.Handler {
		return map[logical.Operation]logical.Handler{logical.UpdateOperation: h}
	}
	return []logical.Route{
		{Pattern: "wrapping/wrap", Ops: write(b.wrapData),
			Synopsis:    "Wrap the request's data behind a new wrapping token (needs X-Vault-Wrap-TTL).",
			Description: "The body's key-value pairs, whatever their names, are the data wrapped."},
		{Pattern: "wrapping/unwrap", Unauthenticated: true, Ops: write(b.unwrap),
			Synopsis:    "Return a wrapped response and spend its token.",
			Description: "Works without a token of your own; a second unwrap fails and is logged as a possible interception.",
			Fields:      tokenDocs},
		{Pattern: "wrapping/lookup", Unauthenticated: true,
			Ops:      map[logical.Operation]logical.Handler{logical.UpdateOperation: b.lookup, logical.ReadOperation: b.lookup},
			Synopsis: "Read a wrapping token's creation path, time and TTL, never its response.", Fields: tokenDocs},
		{Pattern: "wrapping/rewrap", Ops: write(b.rewrap),
			Synopsis: "Move a wrapped response to a new token with the same TTL; the old token stops working.", Fields: tokenDocs},
	}
}

// wrappingToken is the token to act on: data "token" when given (the
// client's own token then only authenticates, or is ignored on the
// unauthenticated paths), else the request's token.
func wrappingToken(req *logical.Request) (string, error) {
	tok, ok, err := logical.Str(req.Data, "token")
	if err != nil {
		return "", err
	}
	if ok && tok != "" {
		return tok, nil
	}
	if req.ClientToken.Empty() {
		return "", logical.BadRequest("missing wrapping token (field %q or X-Vault-Token)", "token")
	}
	return req.ClientToken.Reveal(), nil
}

// wrapData answers sys/wrapping/wrap: the data is returned as the response
// and the core wraps it with the request's X-Vault-Wrap-TTL.
func (b backend) wrapData(_ context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if req.WrapTTL <= 0 {
		return nil, logical.BadRequest("sys/wrapping/wrap needs a wrapping TTL (X-Vault-Wrap-TTL header)")
	}
	if len(req.Data) == 0 {
		return nil, logical.BadRequest("no data to wrap")
	}
	return &logical.Response{Data: req.Data}, nil
}

func (b backend) unwrap(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := tokenDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	tok, err := wrappingToken(req)
	if err != nil {
		return nil, err
	}
	e, err := b.w.consume(ctx, req, tok, "unwrap")
	if err != nil {
		return nil, err
	}
	b.w.logger.Info("response unwrapped", "accessor", e.Accessor, "creation_path", e.CreationPath, "remote_addr", remote(req))
	s := e.Response
	if s == nil {
		return nil, nil
	}
	if s.Data == nil && s.Secret == nil && s.Auth == nil && len(s.Warnings) == 0 {
		return nil, nil
	}
	return &logical.Response{Data: s.Data, Secret: s.Secret, Auth: s.Auth.auth(), Warnings: s.Warnings}, nil
}

func (b backend) lookup(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := tokenDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	tok, err := wrappingToken(req)
	if err != nil {
		return nil, err
	}
	if !tokenfmt.Valid(tok) || tokenfmt.Prefix(tok) != tokenfmt.Wrapping {
		return nil, ErrInvalid
	}
	e, err := b.w.load(ctx, b.w.storageKey(tok))
	if err != nil {
		return nil, err
	}
	if e == nil || e.Used || !b.w.now().Before(e.expires()) {
		if e != nil && e.Used {
			b.w.logger.Warn("lookup of an already unwrapped wrapping token, possible interception",
				"accessor", e.Accessor, "creation_path", e.CreationPath, "remote_addr", remote(req))
		}
		return nil, ErrInvalid
	}
	return &logical.Response{Data: map[string]any{
		"creation_path": e.CreationPath,
		"creation_time": e.CreationTime.Format(time.RFC3339Nano),
		"creation_ttl":  int64(e.TTL / time.Second),
	}}, nil
}

// rewrap moves a wrapped response to a new token with the same TTL and
// creation path; the old token stops working.
func (b backend) rewrap(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := tokenDocs.Unknown(req.Data); err != nil {
		return nil, err
	}
	tok, err := wrappingToken(req)
	if err != nil {
		return nil, err
	}
	e, err := b.w.consume(ctx, req, tok, "rewrap")
	if err != nil {
		return nil, err
	}
	resp, err := b.w.wrap(ctx, e.CreationPath, e.Response, e.TTL)
	if err != nil {
		return nil, errors.Join(logical.Errorf(http.StatusInternalServerError, "rewrap failed; the old token is spent"), err)
	}
	return resp, nil
}
