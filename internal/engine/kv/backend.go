package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Factory builds a KV backend for a new mount. The mount option "version"
// selects the API: "1" (the default, as in Vault) or "2". A version 2
// backend over storage that PrepareUpgrade marked starts upgrading: it
// answers 503 until FinishUpgrade has run. A version 1 backend removes a
// marker left by an upgrade that never took effect.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	version := ""
	var s logical.Storage
	if conf != nil {
		version = strings.TrimSpace(conf.Options["version"])
		s = conf.Storage
	}
	var marker []byte
	if s != nil {
		var err error
		if marker, err = s.Get(ctx, upgradeKey); err != nil {
			return nil, fmt.Errorf("kv: read upgrade marker: %w", err)
		}
	}
	c := clock{now: time.Now}
	if conf != nil {
		if sc, ok := conf.System.(logical.Clock); ok {
			c.now = sc.Now
		}
	}
	switch version {
	case "", "1":
		b := &v1Backend{clock: c}
		b.Router = logical.NewRouter(v1Help, b.routes()...)
		if conf != nil {
			b.sys = conf.System
		}
		if marker != nil {
			if err := AbortUpgrade(ctx, s); err != nil {
				return nil, err
			}
		}
		return b, nil
	case "2":
		b := &v2Backend{clock: c, storage: s}
		b.Router = logical.NewRouter(v2Help, b.routes()...)
		b.upgrading.Store(marker != nil)
		return b, nil
	}
	return nil, logical.BadRequest("kv: option %q must be \"1\" or \"2\"", "version")
}

var (
	_ logical.Backend          = (*v1Backend)(nil)
	_ logical.ExistenceChecker = (*v1Backend)(nil)
	_ logical.Backend          = (*v2Backend)(nil)
	_ logical.ExistenceChecker = (*v2Backend)(nil)
	_ logical.Cleaner          = (*v2Backend)(nil)
)

// clock is the time source of a backend, replaceable in tests.
type clock struct {
	now func() time.Time
}

func (c clock) utcNow() time.Time { return c.now().UTC() }

// keyLocks serialises mutations of one secret. Locks are striped by a hash
// of the path, so the table stays fixed-size.
type keyLocks struct {
	stripes [256]sync.Mutex
}

func (l *keyLocks) lock(name string) func() {
	h := fnv.New32a()
	h.Write([]byte(name))
	m := &l.stripes[h.Sum32()%uint32(len(l.stripes))]
	m.Lock()
	return m.Unlock
}

// applyOps writes puts, then the metadata record, then deletes: atomically
// when the storage supports batches, in that order otherwise.
func applyOps(ctx context.Context, s logical.Storage, ops []logical.BatchOp) error {
	if bs, ok := s.(logical.BatchStorage); ok {
		return bs.Batch(ctx, ops)
	}
	for _, op := range ops {
		var err error
		if op.Value == nil {
			err = s.Delete(ctx, op.Key)
		} else {
			err = s.Put(ctx, op.Key, op.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkName validates a secret path for a non-list operation.
func checkName(name string) error {
	switch {
	case name == "":
		return logical.BadRequest("missing secret path")
	case strings.HasSuffix(name, "/"):
		return logical.BadRequest("secret path must not end with \"/\"")
	case strings.HasPrefix(name, "/") || strings.Contains(name, "//"):
		return logical.BadRequest("secret path must not contain empty segments")
	}
	return nil
}

// listPrefix turns a list path ("", "dir", "dir/") into a storage prefix.
func listPrefix(name string) (string, error) {
	if strings.HasPrefix(name, "/") || strings.Contains(name, "//") {
		return "", logical.BadRequest("secret path must not contain empty segments")
	}
	if name != "" && !strings.HasSuffix(name, "/") {
		name += "/"
	}
	return name, nil
}

// asObject returns v as a JSON object.
func asObject(v any) (map[string]any, bool) {
	switch t := v.(type) {
	case map[string]any:
		return t, true
	case map[string]string:
		m := make(map[string]any, len(t))
		for k, s := range t {
			m[k] = s
		}
		return m, true
	}
	return nil, false
}

// encodeObject marshals a secret's data. The error never carries the value.
func encodeObject(field string, m map[string]any) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, logical.BadRequest("field %q: value cannot be encoded as JSON", field)
	}
	return b, nil
}

// decodeObject unmarshals stored secret data, keeping numbers exact. The
// error never carries the stored bytes.
func decodeObject(b []byte) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("kv: stored secret is corrupt")
	}
	return m, nil
}

// formatTime renders t as Vault does: RFC 3339 with nanoseconds in UTC, or
// "" for the zero time.
func formatTime(unixNano int64) string {
	if unixNano == 0 {
		return ""
	}
	return time.Unix(0, unixNano).UTC().Format(time.RFC3339Nano)
}
