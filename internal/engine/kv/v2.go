package kv

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// v2Backend is KV version 2: versioned secrets with metadata.
type v2Backend struct {
	*logical.Router
	clock
	locks    keyLocks
	configMu sync.Mutex // serialises config writes

	// storage is the mount's view, for the upgrade from version 1 (requests
	// bring their own).
	storage   logical.Storage
	upgrading atomic.Bool
	upgradeMu sync.Mutex  // one FinishUpgrade at a time
	closed    atomic.Bool // Cleanup ran: an upgrade stops at the next secret
}

// HandleRequest serves the routes (paths.go), or 503 while the mount is
// being upgraded from version 1.
func (b *v2Backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if b.upgrading.Load() {
		return nil, errUpgrading
	}
	return b.Router.HandleRequest(ctx, req)
}

// readVersion loads the metadata and picks the requested version. A nil
// result with a nil error means there is nothing to answer (404).
func (b *v2Backend) readVersion(ctx context.Context, req *logical.Request, name string) (*keyMeta, *versionMeta, error) {
	n, err := parseVersion(req.Data)
	if err != nil {
		return nil, nil, err
	}
	m, err := loadMeta(ctx, req.Storage, name)
	if err != nil || m == nil {
		return nil, nil, err
	}
	if n == 0 {
		n = m.Current
	}
	v := m.version(n)
	if v == nil {
		return nil, nil, nil
	}
	return m, v, nil
}

// goneResponse answers a read of a deleted or destroyed version: 404 with
// the version metadata, which Vault clients read as "deleted".
func goneResponse(m *keyMeta, v *versionMeta, dataKey string) *logical.Response {
	return &logical.Response{
		Status: http.StatusNotFound,
		Data:   map[string]any{dataKey: nil, "metadata": m.versionData(v)},
	}
}

func (b *v2Backend) loadVersionData(ctx context.Context, s logical.Storage, name string, n int) (map[string]any, error) {
	raw, err := s.Get(ctx, versionKey(name, n))
	if err != nil {
		return nil, fmt.Errorf("kv: read version: %w", err)
	}
	if raw == nil {
		return nil, fmt.Errorf("kv: version data missing")
	}
	return decodeObject(raw)
}

func (b *v2Backend) readData(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	m, v, err := b.readVersion(ctx, req, name)
	if err != nil || v == nil {
		return nil, err
	}
	if v.Destroyed || v.deleted(b.utcNow()) {
		return goneResponse(m, v, "data"), nil
	}
	data, err := b.loadVersionData(ctx, req.Storage, name, v.N)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"data": data, "metadata": m.versionData(v)},
		Served: &logical.ServedVersion{Version: v.N, Current: m.Current}}, nil
}

func (b *v2Backend) readSubkeys(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	depth, _, err := logical.Int(req.Data, "depth")
	if err != nil || depth < 0 {
		return nil, logical.BadRequest("field %q: expected a non-negative integer", "depth")
	}
	m, v, err := b.readVersion(ctx, req, name)
	if err != nil || v == nil {
		return nil, err
	}
	if v.Destroyed || v.deleted(b.utcNow()) {
		return goneResponse(m, v, "subkeys"), nil
	}
	data, err := b.loadVersionData(ctx, req.Storage, name, v.N)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		"subkeys":  subkeys(data, depth, 1),
		"metadata": m.versionData(v),
	}}, nil
}

func (b *v2Backend) writeData(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	w, err := parseWrite(req.Data)
	if err != nil {
		return nil, err
	}
	defer b.locks.lock(name)()
	m, err := loadMeta(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	return b.putVersion(ctx, req.Storage, name, m, w)
}

func (b *v2Backend) patchData(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	w, err := parseWrite(req.Data)
	if err != nil {
		return nil, err
	}
	defer b.locks.lock(name)()
	m, err := loadMeta(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	var cur *versionMeta
	if m != nil {
		cur = m.version(m.Current)
	}
	if cur == nil || cur.Destroyed || cur.deleted(b.utcNow()) {
		return nil, logical.Errorf(http.StatusNotFound, "no current version of the secret to patch")
	}
	data, err := b.loadVersionData(ctx, req.Storage, name, cur.N)
	if err != nil {
		return nil, err
	}
	w.data = mergePatch(data, w.data).(map[string]any)
	return b.putVersion(ctx, req.Storage, name, m, w)
}

// putVersion writes w as the next version of the secret (m may be nil). The
// caller holds the key's lock.
func (b *v2Backend) putVersion(ctx context.Context, s logical.Storage, name string, m *keyMeta, w writeRequest) (*logical.Response, error) {
	cfg, err := loadConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	now := b.utcNow()
	if m == nil {
		m = &keyMeta{Created: now.UnixNano()}
	}
	if w.hasCAS {
		if w.cas != m.Current {
			return nil, logical.BadRequest("check-and-set parameter did not match the current version")
		}
	} else if cfg.CASRequired || m.CASRequired {
		return nil, logical.BadRequest("check-and-set parameter required for this call")
	}
	blob, err := encodeObject("data", w.data)
	if err != nil {
		return nil, err
	}
	m.Current++
	m.Updated = now.UnixNano()
	v := versionMeta{N: m.Current, Created: now.UnixNano()}
	if d := m.deleteAfter(cfg); d > 0 {
		v.Deleted = now.Add(d).UnixNano()
	}
	m.Versions = append(m.Versions, v)
	ops := []logical.BatchOp{{Key: versionKey(name, v.N), Value: blob}, {}}
	if limit := m.maxVersions(cfg); len(m.Versions) > limit {
		drop := len(m.Versions) - limit
		for _, old := range m.Versions[:drop] {
			ops = append(ops, logical.BatchOp{Key: versionKey(name, old.N)})
		}
		m.Versions = append([]versionMeta(nil), m.Versions[drop:]...)
		m.Oldest = m.Versions[0].N
	}
	rec, err := encodeMeta(m)
	if err != nil {
		return nil, err
	}
	ops[1] = logical.BatchOp{Key: metaKey(name), Value: rec}
	if err := applyOps(ctx, s, ops); err != nil {
		return nil, fmt.Errorf("kv: write version: %w", err)
	}
	data := m.versionData(&v)
	return &logical.Response{Data: data}, nil
}

// deleteLatest soft-deletes the current version.
func (b *v2Backend) deleteLatest(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	defer b.locks.lock(name)()
	m, err := loadMeta(ctx, req.Storage, name)
	if err != nil || m == nil {
		return nil, err
	}
	v := m.version(m.Current)
	now := b.utcNow()
	if v == nil || v.Destroyed || v.deleted(now) {
		return nil, nil
	}
	v.Deleted = now.UnixNano()
	return nil, b.saveMeta(ctx, req.Storage, name, m)
}

func (b *v2Backend) saveMeta(ctx context.Context, s logical.Storage, name string, m *keyMeta) error {
	rec, err := encodeMeta(m)
	if err != nil {
		return err
	}
	if err := s.Put(ctx, metaKey(name), rec); err != nil {
		return fmt.Errorf("kv: write metadata: %w", err)
	}
	return nil
}

// changeVersions serves delete/, undelete/ and destroy/ with {"versions": [...]}.
func (b *v2Backend) changeVersions(ctx context.Context, req *logical.Request, kind, name string) (*logical.Response, error) {
	versions, err := parseVersions(req.Data)
	if err != nil {
		return nil, err
	}
	defer b.locks.lock(name)()
	m, err := loadMeta(ctx, req.Storage, name)
	if err != nil || m == nil {
		return nil, err
	}
	cfg, err := loadConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	now := b.utcNow()
	var destroyed []logical.BatchOp
	changed := false
	for _, n := range versions {
		v := m.version(n)
		if v == nil {
			continue
		}
		if kind == "destroy" {
			// Deleting again is harmless and finishes a destroy whose
			// blob deletion failed earlier.
			destroyed = append(destroyed, logical.BatchOp{Key: versionKey(name, n)})
			if !v.Destroyed {
				v.Destroyed, changed = true, true
			}
			continue
		}
		if v.Destroyed {
			continue
		}
		switch kind {
		case "delete":
			if !v.deleted(now) {
				v.Deleted, changed = now.UnixNano(), true
			}
		case "undelete":
			// Only a deletion that has happened is undone: a deletion
			// delete_version_after scheduled for later stays scheduled.
			if v.deleted(now) {
				v.Deleted, changed = undeletedUntil(v, m.deleteAfter(cfg), now), true
			}
		}
	}
	if !changed && len(destroyed) == 0 {
		return nil, nil
	}
	var ops []logical.BatchOp
	if changed {
		rec, err := encodeMeta(m)
		if err != nil {
			return nil, err
		}
		// Metadata first: a destroyed version must never look readable.
		ops = append(ops, logical.BatchOp{Key: metaKey(name), Value: rec})
	}
	ops = append(ops, destroyed...)
	if err := applyOps(ctx, req.Storage, ops); err != nil {
		return nil, fmt.Errorf("kv: update versions: %w", err)
	}
	return nil, nil
}

// undeletedUntil is the deletion time of a version undeleted at now under
// delete_version_after after (0: none). The version is not made immune:
// it keeps the deletion its creation scheduled when that is still ahead,
// and otherwise gets a new period from now.
func undeletedUntil(v *versionMeta, after time.Duration, now time.Time) int64 {
	if after <= 0 {
		return 0
	}
	if due := v.Created + int64(after); due > now.UnixNano() {
		return due
	}
	return now.Add(after).UnixNano()
}
