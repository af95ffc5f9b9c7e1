package kv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

const (
	configKey          = "config"
	metaPrefix         = "meta/"
	versionPrefix      = "ver/"
	defaultMaxVersions = 10
)

// mountConfig is the v2 mount-wide configuration.
type mountConfig struct {
	MaxVersions        int           `json:"max_versions,omitempty"`
	CASRequired        bool          `json:"cas_required,omitempty"`
	DeleteVersionAfter time.Duration `json:"delete_version_after,omitempty"`
}

// keyMeta is the stored record of one v2 secret (see codec.go). Times are
// Unix nanoseconds.
type keyMeta struct {
	Created     int64
	Updated     int64
	Current     int
	Oldest      int
	MaxVersions int
	CASRequired bool
	DeleteAfter time.Duration
	Custom      map[string]string
	// Versions are kept in ascending order of N.
	Versions []versionMeta
}

// versionMeta describes one kept version. Deleted is the soft-deletion time
// in Unix nanoseconds (0: none); it may lie in the future when set by
// delete_version_after.
type versionMeta struct {
	N         int
	Created   int64
	Deleted   int64
	Destroyed bool
}

// deleted reports whether the version is soft-deleted at now.
func (v *versionMeta) deleted(now time.Time) bool {
	return v.Deleted != 0 && v.Deleted <= now.UnixNano()
}

// version returns the kept version n, or nil.
func (m *keyMeta) version(n int) *versionMeta {
	i := sort.Search(len(m.Versions), func(i int) bool { return m.Versions[i].N >= n })
	if i < len(m.Versions) && m.Versions[i].N == n {
		return &m.Versions[i]
	}
	return nil
}

func metaKey(name string) string { return metaPrefix + name }

// versionDir is the storage prefix holding every version of the secret at
// name: "ver/<hex sha256(name)>/".
func versionDir(name string) string {
	sum := sha256.Sum256([]byte(name))
	return versionPrefix + hex.EncodeToString(sum[:]) + "/"
}

// versionKey is where version n of the secret at name is stored.
func versionKey(name string, n int) string {
	sum := sha256.Sum256([]byte(name))
	buf := make([]byte, 0, len(versionPrefix)+2*len(sum)+12)
	buf = append(buf, versionPrefix...)
	buf = hex.AppendEncode(buf, sum[:])
	buf = append(buf, '/')
	buf = strconv.AppendInt(buf, int64(n), 10)
	return string(buf)
}

func loadMeta(ctx context.Context, s logical.Storage, name string) (*keyMeta, error) {
	raw, err := s.Get(ctx, metaKey(name))
	if err != nil {
		return nil, fmt.Errorf("kv: read metadata: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	m := new(keyMeta)
	if err := decodeMeta(raw, m); err != nil {
		return nil, err
	}
	return m, nil
}

func encodeMeta(m *keyMeta) ([]byte, error) {
	return appendMeta(make([]byte, 0, 64+24*len(m.Versions)), m), nil
}

func loadConfig(ctx context.Context, s logical.Storage) (mountConfig, error) {
	var c mountConfig
	raw, err := s.Get(ctx, configKey)
	if err != nil {
		return c, fmt.Errorf("kv: read config: %w", err)
	}
	if raw == nil {
		return c, nil
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("kv: stored config is corrupt")
	}
	return c, nil
}

// maxVersions is the effective version limit: the key's, else the mount's,
// else 10.
func (m *keyMeta) maxVersions(c mountConfig) int {
	switch {
	case m.MaxVersions > 0:
		return m.MaxVersions
	case c.MaxVersions > 0:
		return c.MaxVersions
	}
	return defaultMaxVersions
}

// deleteAfter is the effective delete_version_after: the shorter of the
// key's and the mount's non-zero settings.
func (m *keyMeta) deleteAfter(c mountConfig) time.Duration {
	switch {
	case m.DeleteAfter > 0 && c.DeleteVersionAfter > 0:
		return min(m.DeleteAfter, c.DeleteVersionAfter)
	case m.DeleteAfter > 0:
		return m.DeleteAfter
	}
	return c.DeleteVersionAfter
}

// customMetadata returns the map for a response: null when empty. The map
// is the record's own, freshly decoded for this request.
func (m *keyMeta) customMetadata() any {
	if len(m.Custom) == 0 {
		return nil
	}
	return m.Custom
}

// versionData is the "metadata" object of a data read or write response.
func (m *keyMeta) versionData(v *versionMeta) map[string]any {
	return map[string]any{
		"created_time":    formatTime(v.Created),
		"custom_metadata": m.customMetadata(),
		"deletion_time":   formatTime(v.Deleted),
		"destroyed":       v.Destroyed,
		"version":         v.N,
	}
}
