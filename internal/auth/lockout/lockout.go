// Package lockout counts failed logins per identity and locks an identity
// out after too many, with Vault's user_lockout semantics (threshold,
// duration, counter reset). Counters live in the auth method's storage, so
// a lockout survives restarts and leader changes. It never stores or logs
// a password; identities are stored as hashes.
package lockout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/keyward/keyward/internal/logical"
)

// Defaults, as in Vault.
const (
	DefaultThreshold    = 5
	DefaultDuration     = 15 * time.Minute
	DefaultCounterReset = 15 * time.Minute
)

// Config is the lockout policy of one mount. The zero value means the
// defaults.
type Config struct {
	Threshold    int           `json:"lockout_threshold,omitempty"`
	Duration     time.Duration `json:"lockout_duration,omitempty"`
	CounterReset time.Duration `json:"lockout_counter_reset,omitempty"`
	Disable      bool          `json:"lockout_disable,omitempty"`
}

// FieldDocs documents the lockout_* fields for path-help.
var FieldDocs = logical.Fields{
	{Name: "lockout_threshold", Type: logical.TypeInt, Description: "Failed logins after which a user or client is locked out.", Default: DefaultThreshold},
	{Name: "lockout_duration", Type: logical.TypeDuration, Description: "How long a lockout lasts.", Default: "15m"},
	{Name: "lockout_counter_reset", Type: logical.TypeDuration, Description: "How long after the last failure the failure count starts again from zero.", Default: "15m"},
	{Name: "lockout_disable", Type: logical.TypeBool, Description: "Turn lockout off for this mount.", Default: false},
}

// Fields are the request keys Parse reads.
var Fields = FieldDocs.Names()

// Parse updates c from the lockout_* keys present in data.
func (c *Config) Parse(data map[string]any) error {
	if v, ok, err := logical.Int(data, "lockout_threshold"); err != nil {
		return err
	} else if ok {
		if v < 0 {
			return logical.BadRequest("field %q: must not be negative", "lockout_threshold")
		}
		c.Threshold = v
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{{"lockout_duration", &c.Duration}, {"lockout_counter_reset", &c.CounterReset}} {
		v, ok, err := logical.Duration(data, d.key)
		if err != nil {
			return err
		}
		if ok {
			*d.dst = v
		}
	}
	if v, ok, err := logical.Bool(data, "lockout_disable"); err != nil {
		return err
	} else if ok {
		c.Disable = v
	}
	return nil
}

// Map writes the effective settings into a read response.
func (c Config) Map(into map[string]any) {
	e := c.effective()
	into["lockout_threshold"] = e.Threshold
	into["lockout_duration"] = int64(e.Duration / time.Second)
	into["lockout_counter_reset"] = int64(e.CounterReset / time.Second)
	into["lockout_disable"] = e.Disable
}

func (c Config) effective() Config {
	if c.Threshold == 0 {
		c.Threshold = DefaultThreshold
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.CounterReset == 0 {
		c.CounterReset = DefaultCounterReset
	}
	return c
}

// Canonical is the identity a counter belongs to: spaces trimmed, Unicode
// NFKC-normalised and lower-cased, so "Alice", " alice" and "ＡＬＩＣＥ" share
// one counter.
func Canonical(name string) string {
	return strings.ToLower(norm.NFKC.String(strings.TrimSpace(norm.NFKC.String(name))))
}

// Tracker keeps the counters of one mount. It is safe for concurrent use.
type Tracker struct {
	prefix string
	now    func() time.Time
	mu     sync.Mutex
}

// New returns a tracker that stores counters under prefix in the mount's
// storage; now is the clock (nil for time.Now).
func New(prefix string, now func() time.Time) *Tracker {
	if now == nil {
		now = time.Now
	}
	return &Tracker{prefix: prefix, now: now}
}

type record struct {
	Failures    int       `json:"failures"`
	LastFailure time.Time `json:"last_failure"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
}

func (t *Tracker) key(id string) string {
	sum := sha256.Sum256([]byte(Canonical(id)))
	return t.prefix + hex.EncodeToString(sum[:])
}

func (t *Tracker) load(ctx context.Context, s logical.Storage, key string) (record, error) {
	var r record
	raw, err := s.Get(ctx, key)
	if err != nil || raw == nil {
		return r, err
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("lockout: decode counter: %w", err)
	}
	return r, nil
}

// Locked reports whether id is locked out now. It always reads storage, so
// locked, unlocked and unknown identities cost the same.
func (t *Tracker) Locked(ctx context.Context, s logical.Storage, c Config, id string) (bool, error) {
	r, err := t.load(ctx, s, t.key(id))
	if err != nil {
		return false, err
	}
	if c.Disable {
		return false, nil
	}
	return t.now().Before(r.LockedUntil), nil
}

// Fail records a failed login for id and locks it once the threshold is
// reached within the counter-reset window. It reports whether id is now
// locked.
func (t *Tracker) Fail(ctx context.Context, s logical.Storage, c Config, id string) (bool, error) {
	if c.Disable {
		return false, nil
	}
	c = c.effective()
	key := t.key(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	r, err := t.load(ctx, s, key)
	if err != nil {
		return false, err
	}
	now := t.now()
	if now.Before(r.LockedUntil) {
		return true, nil
	}
	if !r.LockedUntil.IsZero() || now.Sub(r.LastFailure) > c.CounterReset {
		r = record{} // a finished lockout or a quiet window starts afresh
	}
	r.Failures++
	r.LastFailure = now
	locked := r.Failures >= c.Threshold
	if locked {
		r.LockedUntil = now.Add(c.Duration)
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	if err := s.Put(ctx, key, raw); err != nil {
		return false, fmt.Errorf("lockout: store counter: %w", err)
	}
	return locked, nil
}

// Succeed clears id's counter after a successful login.
func (t *Tracker) Succeed(ctx context.Context, s logical.Storage, id string) error {
	key := t.key(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	r, err := t.load(ctx, s, key)
	if err != nil || (r.Failures == 0 && r.LockedUntil.IsZero()) {
		return err
	}
	return s.Delete(ctx, key)
}

// Unlock removes id's counter (an operator's unlock).
func (t *Tracker) Unlock(ctx context.Context, s logical.Storage, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return s.Delete(ctx, t.key(id))
}

// Tidy removes counters that no longer matter: not locked and last failed
// longer ago than the counter-reset window. It returns how many it removed.
func (t *Tracker) Tidy(ctx context.Context, s logical.Storage, c Config) (int, error) {
	c = c.effective()
	keys, err := s.List(ctx, t.prefix)
	if err != nil {
		return 0, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	n := 0
	for _, k := range keys {
		r, err := t.load(ctx, s, t.prefix+k)
		if err != nil {
			return n, err
		}
		if now.Before(r.LockedUntil) || now.Sub(r.LastFailure) <= c.CounterReset {
			continue
		}
		if err := s.Delete(ctx, t.prefix+k); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
