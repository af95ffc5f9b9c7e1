package kv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

var metadataFields = metadataDocs.Names()

func (b *v2Backend) readConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	c, err := loadConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		"max_versions":         c.MaxVersions,
		"cas_required":         c.CASRequired,
		"delete_version_after": c.DeleteVersionAfter.String(),
	}}, nil
}

func (b *v2Backend) writeConfig(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	var s settings
	if err := s.parse(req.Data); err != nil {
		return nil, err
	}
	b.configMu.Lock()
	defer b.configMu.Unlock()
	c, err := loadConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	s.apply(&c.MaxVersions, &c.CASRequired, &c.DeleteVersionAfter)
	rec, err := jsonMarshal(c)
	if err != nil {
		return nil, err
	}
	if err := req.Storage.Put(ctx, configKey, rec); err != nil {
		return nil, fmt.Errorf("kv: write config: %w", err)
	}
	return warnUnknown(req.Data, configDocs.Names()...), nil
}

func (b *v2Backend) readMetadata(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	m, err := loadMeta(ctx, req.Storage, name)
	if err != nil || m == nil {
		return nil, err
	}
	versions := make(map[string]any, len(m.Versions))
	for _, v := range m.Versions {
		versions[strconv.Itoa(v.N)] = map[string]any{
			"created_time":  formatTime(v.Created),
			"deletion_time": formatTime(v.Deleted),
			"destroyed":     v.Destroyed,
		}
	}
	return &logical.Response{Data: map[string]any{
		"cas_required":         m.CASRequired,
		"created_time":         formatTime(m.Created),
		"current_version":      m.Current,
		"custom_metadata":      m.customMetadata(),
		"delete_version_after": m.DeleteAfter.String(),
		"max_versions":         m.MaxVersions,
		"oldest_version":       m.Oldest,
		"updated_time":         formatTime(m.Updated),
		"versions":             versions,
	}}, nil
}

// writeMetadata serves POST (create or update) and PATCH on metadata/.
// Only the fields present are changed; on POST custom_metadata replaces the
// whole map, on PATCH it is merged and a null value removes a key.
func (b *v2Backend) writeMetadata(ctx context.Context, req *logical.Request, name string, patch bool) (*logical.Response, error) {
	var s settings
	if err := s.parse(req.Data); err != nil {
		return nil, err
	}
	custom, customSet, err := parseCustom(req.Data, patch)
	if err != nil {
		return nil, err
	}
	defer b.locks.lock(name)()
	m, err := loadMeta(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	now := b.utcNow().UnixNano()
	if m == nil {
		if patch {
			return nil, logical.Errorf(http.StatusNotFound, "no metadata found at path")
		}
		m = &keyMeta{Created: now}
	}
	s.apply(&m.MaxVersions, &m.CASRequired, &m.DeleteAfter)
	if customSet {
		if patch {
			merged := make(map[string]string, len(m.Custom)+len(custom))
			for k, v := range m.Custom {
				merged[k] = v
			}
			for k, v := range custom {
				if v == nil {
					delete(merged, k)
				} else {
					merged[k] = *v
				}
			}
			m.Custom = merged
		} else {
			m.Custom = make(map[string]string, len(custom))
			for k, v := range custom {
				m.Custom[k] = *v
			}
		}
		if err := validateCustom(m.Custom); err != nil {
			return nil, err
		}
	}
	m.Updated = now
	if err := b.saveMeta(ctx, req.Storage, name, m); err != nil {
		return nil, err
	}
	return warnUnknown(req.Data, metadataFields...), nil
}

// deleteMetadata removes the secret: every version and its metadata.
func (b *v2Backend) deleteMetadata(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	defer b.locks.lock(name)()
	m, err := loadMeta(ctx, req.Storage, name)
	if err != nil || m == nil {
		return nil, err
	}
	// Listing the version directory also catches blobs left behind by an
	// earlier write that failed half-way on storage without batches.
	stored, err := req.Storage.List(ctx, versionDir(name))
	if err != nil {
		return nil, fmt.Errorf("kv: list versions: %w", err)
	}
	// Metadata first: without it no version is reachable.
	ops := []logical.BatchOp{{Key: metaKey(name)}}
	for _, v := range m.Versions {
		ops = append(ops, logical.BatchOp{Key: versionKey(name, v.N)})
	}
	for _, k := range stored {
		if n, err := strconv.Atoi(k); err == nil && m.version(n) == nil {
			ops = append(ops, logical.BatchOp{Key: versionDir(name) + k})
		}
	}
	if err := applyOps(ctx, req.Storage, ops); err != nil {
		return nil, fmt.Errorf("kv: delete secret: %w", err)
	}
	return nil, nil
}

func (b *v2Backend) listMetadata(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	prefix, err := listPrefix(name)
	if err != nil {
		return nil, err
	}
	keys, err := req.Storage.List(ctx, metaPrefix+prefix)
	if err != nil {
		return nil, fmt.Errorf("kv: list metadata: %w", err)
	}
	return listResponse(keys), nil
}

// settings are the fields shared by config and metadata writes; nil means
// "not given, leave unchanged".
type settings struct {
	maxVersions *int
	casRequired *bool
	deleteAfter *time.Duration
}

func (s *settings) parse(d map[string]any) error {
	if n, ok, err := logical.Int(d, "max_versions"); err != nil || n < 0 {
		return logical.BadRequest("field %q: expected a non-negative integer", "max_versions")
	} else if ok {
		s.maxVersions = &n
	}
	if v, ok, err := logical.Bool(d, "cas_required"); err != nil {
		return err
	} else if ok {
		s.casRequired = &v
	}
	if v, ok, err := logical.Duration(d, "delete_version_after"); err != nil {
		return err
	} else if ok {
		s.deleteAfter = &v
	}
	return nil
}

func (s *settings) apply(maxVersions *int, casRequired *bool, deleteAfter *time.Duration) {
	if s.maxVersions != nil {
		*maxVersions = *s.maxVersions
	}
	if s.casRequired != nil {
		*casRequired = *s.casRequired
	}
	if s.deleteAfter != nil {
		*deleteAfter = *s.deleteAfter
	}
}

// parseCustom decodes custom_metadata. In a patch a null value (nil
// pointer) removes the key.
func parseCustom(d map[string]any, patch bool) (map[string]*string, bool, error) {
	raw, ok := d["custom_metadata"]
	if !ok || (raw == nil && !patch) {
		return nil, false, nil
	}
	bad := logical.BadRequest("field %q: expected a map of strings", "custom_metadata")
	out := map[string]*string{}
	switch t := raw.(type) {
	case nil:
		// PATCH with "custom_metadata": null leaves it unchanged.
		return nil, false, nil
	case map[string]any:
		for k, v := range t {
			switch s := v.(type) {
			case string:
				out[k] = &s
			case nil:
				if !patch {
					return nil, false, bad
				}
				out[k] = nil
			default:
				return nil, false, bad
			}
		}
	default:
		m, _, err := logical.StringMap(d, "custom_metadata")
		if err != nil {
			return nil, false, bad
		}
		for k, v := range m {
			out[k] = &v
		}
	}
	return out, true, nil
}

// warnUnknown returns a response warning about ignored fields, as Vault
// does, or nil: metadata and config fields are bookkeeping that cannot widen
// access (the unknown-field rule of logical.UnknownFieldWarnings).
func warnUnknown(d map[string]any, allowed ...string) *logical.Response {
	if w := logical.UnknownFieldWarnings(d, allowed...); w != nil {
		return &logical.Response{Warnings: w}
	}
	return nil
}

func jsonMarshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("kv: encode config: %w", err)
	}
	return b, nil
}
