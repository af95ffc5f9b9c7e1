package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// DefaultLockDuration is how long lock-role locks when the rule sets no
// lock_duration.
const DefaultLockDuration = time.Hour

// LockPrefix is where lock-role locks live in the watch storage.
const LockPrefix = "locks/"

// Lock refuses logins through one auth role or user (Name on the auth
// mount Mount) until Until: the lock-role containment sets it, and
// DELETE sys/watch/locks/ID lifts it early.
type Lock struct {
	Mount   string    `json:"mount"`
	Name    string    `json:"name"`
	Until   time.Time `json:"until"`
	AlertID string    `json:"alert_id"`
	Rule    string    `json:"rule"`
	Created time.Time `json:"created"`
}

// LockID names the lock of name on mount (a hash: no role name in the
// storage key).
func LockID(mount, name string) string {
	h := sha256.Sum256([]byte(mount + "\x00" + name))
	return hex.EncodeToString(h[:8])
}

func (r *Rule) lockDuration() time.Duration {
	if r.LockDuration > 0 {
		return r.LockDuration
	}
	return DefaultLockDuration
}

func loadLocks(ctx context.Context, s logical.Storage, log *slog.Logger) map[string]Lock {
	out := map[string]Lock{}
	keys, err := s.List(ctx, LockPrefix)
	if err != nil {
		log.Error("watch: role locks not loaded", "err", err)
		return out
	}
	for _, k := range keys {
		data, err := s.Get(ctx, LockPrefix+k)
		if err != nil || data == nil {
			continue
		}
		var l Lock
		if json.Unmarshal(data, &l) != nil || LockID(l.Mount, l.Name) != k {
			log.Warn("watch: unreadable role lock skipped", "id", k)
			continue
		}
		out[k] = l
	}
	return out
}

// lock stores l (a later lock of the same role replaces it if it lasts
// longer).
func (en *Engine) lock(ctx context.Context, l Lock) error {
	en.mu.Lock()
	defer en.mu.Unlock()
	if en.storage == nil {
		return ErrSealed
	}
	id := LockID(l.Mount, l.Name)
	if old, ok := en.locks[id]; ok && old.Until.After(l.Until) {
		return nil
	}
	data, err := json.Marshal(&l)
	if err != nil {
		return err
	}
	if err := en.storage.Put(ctx, LockPrefix+id, data); err != nil {
		return fmt.Errorf("watch: store role lock: %w", err)
	}
	en.locks[id] = l
	return nil
}

// Locks returns the locks in effect, soonest to lapse first.
func (en *Engine) Locks() ([]Lock, error) {
	en.mu.Lock()
	defer en.mu.Unlock()
	if en.storage == nil {
		return nil, ErrSealed
	}
	now := en.opts.Now()
	var out []Lock
	for _, l := range en.locks {
		if l.Until.After(now) {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Until.Before(out[j].Until) })
	return out, nil
}

// Unlock lifts lock id (false if there was none in effect).
func (en *Engine) Unlock(ctx context.Context, id string) (bool, error) {
	en.mu.Lock()
	defer en.mu.Unlock()
	if en.storage == nil {
		return false, ErrSealed
	}
	l, ok := en.locks[id]
	if !ok {
		return false, nil
	}
	if err := en.storage.Delete(ctx, LockPrefix+id); err != nil {
		return false, fmt.Errorf("watch: delete role lock: %w", err)
	}
	delete(en.locks, id)
	return l.Until.After(en.opts.Now()), nil
}

// CheckLogin refuses a login through name on mount while a lock holds
// (a 403 naming when it lapses and how to lift it); the core calls it
// before it issues a login's token.
func (en *Engine) CheckLogin(_ context.Context, mount, name string) error {
	if name == "" {
		return nil
	}
	en.mu.Lock()
	l, ok := en.locks[LockID(mount, name)]
	en.mu.Unlock()
	if !ok || !l.Until.After(en.opts.Now()) {
		return nil
	}
	return logical.Errorf(http.StatusForbidden, "logins through %s %s are locked by the watch containment until %s (alert %s, rule %s); an operator can lift it: DELETE sys/watch/locks/%s",
		mount, name, l.Until.UTC().Format(time.RFC3339), l.AlertID, l.Rule, LockID(mount, name))
}

func lockData(l *Lock) map[string]any {
	return map[string]any{"id": LockID(l.Mount, l.Name), "mount": l.Mount, "name": l.Name,
		"until": l.Until.UTC().Format(time.RFC3339), "alert_id": l.AlertID, "rule": l.Rule,
		"created": l.Created.UTC().Format(time.RFC3339)}
}

func (a *alertAPI) listLocks(_ context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	ls, err := a.en.Locks()
	if err != nil {
		return nil, sealedErr(err)
	}
	keys := make([]string, 0, len(ls))
	info := map[string]any{}
	for _, l := range ls {
		id := LockID(l.Mount, l.Name)
		keys = append(keys, id)
		info[id] = lockData(&l)
	}
	if len(keys) == 0 && req.Operation == logical.ListOperation {
		return nil, nil
	}
	return &logical.Response{Data: map[string]any{"keys": keys, "key_info": info}}, nil
}

func (a *alertAPI) readLock(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	ls, err := a.en.Locks()
	if err != nil {
		return nil, sealedErr(err)
	}
	for _, l := range ls {
		if LockID(l.Mount, l.Name) == p["id"] {
			return &logical.Response{Data: lockData(&l)}, nil
		}
	}
	return nil, nil
}

func (a *alertAPI) deleteLock(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	ok, err := a.en.Unlock(ctx, p["id"])
	if err != nil {
		return nil, sealedErr(err)
	}
	if !ok {
		return nil, logical.Errorf(http.StatusNotFound, "no lock %q in effect", p["id"])
	}
	return nil, nil
}
