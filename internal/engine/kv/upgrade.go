package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// upgradeKey marks a mount whose KV version 1 data is being converted to
// version 2. It sits in the version key space, where no version blob can
// have that name (blobs live at ver/<64 hex>/<n>) and, once PrepareUpgrade
// has checked, no version 1 secret either.
const upgradeKey = versionPrefix + "upgrading"

// upgradingMessage is Vault's answer while an upgrade runs; clients and
// tools match on its text.
const upgradingMessage = "Upgrading from non-versioned to versioned data. This backend will be unavailable for a brief period and will resume service shortly."

type upgradeMarker struct {
	Started time.Time `json:"started"`
}

// PrepareUpgrade readies the KV version 1 data in s for an in-place upgrade
// to version 2 and returns how many secrets it holds. It refuses, changing
// nothing, when a version 1 secret sits where version 2 keeps its own
// records ("config", or anything under "meta/" or "ver/"), since the
// upgrade could not tell that secret from its own output. Otherwise it
// writes the upgrade marker: a version 2 backend built over s then answers
// 503 until FinishUpgrade has converted every secret. The caller must keep
// writes away from s until the version 2 backend takes over.
func PrepareUpgrade(ctx context.Context, s logical.Storage, now time.Time) (int, error) {
	n := 0
	err := walkV1(ctx, s, "", func(key string) error {
		if reservedV2Key(key) {
			return logical.BadRequest("cannot upgrade to KV version 2: the secret at %q sits where version 2 keeps its records (\"config\", \"meta/\", \"ver/\"); move it to another path first", key)
		}
		n++
		return nil
	})
	if err != nil {
		return 0, err
	}
	raw, err := json.Marshal(upgradeMarker{Started: now.UTC()})
	if err != nil {
		return 0, err
	}
	if err := s.Put(ctx, upgradeKey, raw); err != nil {
		return 0, fmt.Errorf("kv: mark upgrade: %w", err)
	}
	return n, nil
}

// AbortUpgrade removes the marker PrepareUpgrade wrote, for a caller that
// keeps the mount at version 1 after all.
func AbortUpgrade(ctx context.Context, s logical.Storage) error {
	if err := s.Delete(ctx, upgradeKey); err != nil {
		return fmt.Errorf("kv: remove upgrade marker: %w", err)
	}
	return nil
}

// reservedV2Key reports whether a version 1 key would collide with version
// 2's own records.
func reservedV2Key(key string) bool {
	return key == configKey || strings.HasPrefix(key, metaPrefix) || strings.HasPrefix(key, versionPrefix)
}

// walkV1 calls fn for every key under prefix, depth first, in List order.
func walkV1(ctx context.Context, s logical.Storage, prefix string, fn func(key string) error) error {
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("kv: list %q: %w", prefix, err)
	}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasSuffix(k, "/") {
			if err := walkV1(ctx, s, prefix+k, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(prefix + k); err != nil {
			return err
		}
	}
	return nil
}

// Upgrading reports whether the backend is still converting version 1 data
// (and so answers every request with 503).
func (b *v2Backend) Upgrading() bool { return b.upgrading.Load() }

// FinishUpgrade converts every remaining version 1 secret into version 1 of
// a version 2 secret, then removes the marker and starts serving. Each
// secret is converted in one batch (its version blob, its metadata and the
// deletion of the old key), atomically where the storage allows and in that
// order otherwise, so an interrupted upgrade loses nothing: calling
// FinishUpgrade again, in this process or after a restart, converts what is
// left. It is a no-op on a backend that is not upgrading and safe for
// concurrent use.
func (b *v2Backend) FinishUpgrade(ctx context.Context) error {
	b.upgradeMu.Lock()
	defer b.upgradeMu.Unlock()
	if !b.upgrading.Load() {
		return nil
	}
	var keys []string
	err := walkV1(ctx, b.storage, "", func(key string) error {
		if !reservedV2Key(key) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kv: upgrade: %w", err)
	}
	for _, key := range keys {
		if b.closed.Load() {
			return errors.New("kv: upgrade stopped: the mount was unmounted or sealed")
		}
		if err := b.convert(ctx, key); err != nil {
			return fmt.Errorf("kv: upgrade %q: %w", key, err)
		}
	}
	if err := b.storage.Delete(ctx, upgradeKey); err != nil {
		return fmt.Errorf("kv: finish upgrade: %w", err)
	}
	b.upgrading.Store(false)
	return nil
}

// convert turns the version 1 secret at key into version 1 of a version 2
// secret. A key converted before an interruption whose old value survived
// (storage without batches) is converted again from that same value.
func (b *v2Backend) convert(ctx context.Context, key string) error {
	raw, err := b.storage.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if raw == nil {
		return nil
	}
	if _, err := decodeObject(raw); err != nil {
		return err
	}
	now := b.utcNow().UnixNano()
	m := &keyMeta{Created: now, Updated: now, Current: 1, Versions: []versionMeta{{N: 1, Created: now}}}
	rec, err := encodeMeta(m)
	if err != nil {
		return err
	}
	return applyOps(ctx, b.storage, []logical.BatchOp{
		{Key: versionKey(key, 1), Value: raw},
		{Key: metaKey(key), Value: rec},
		{Key: key},
	})
}

// Cleanup stops a running upgrade at the next secret and waits for it, so
// nothing writes to the mount's storage once it is disabled or sealed.
func (b *v2Backend) Cleanup(context.Context) {
	b.closed.Store(true)
	b.upgradeMu.Lock() // a running upgrade holds it until it stops
	defer b.upgradeMu.Unlock()
}

// errUpgrading is what every request gets while the upgrade runs.
var errUpgrading = logical.Errorf(http.StatusServiceUnavailable, "%s", upgradingMessage)
