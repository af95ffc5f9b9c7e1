package report

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// MaxSecrets bounds the secrets one report walks; a larger inventory is
// reported as truncated in the notes.
const MaxSecrets = 100000

// secret is one KV secret, from its metadata (never its data).
type secret struct {
	Mount     string
	Key       string // below the mount, without data/
	KVVersion int
	// Path is the API path a read of its data uses (and policies name):
	// "secret/data/app/db" for KV v2, "kv1/app/db" for KV v1.
	Path           string
	Created        time.Time // KV v2 only
	CurrentVersion int
	Rotated        time.Time // creation of the current version, KV v2 only
	Custom         map[string]string
}

// inventory walks every KV mount (or those under prefix) and returns its
// secrets sorted by path; truncated is true when MaxSecrets stopped it.
func inventory(ctx context.Context, src Source, prefix string) (out []secret, truncated bool, err error) {
	for _, m := range src.Mounts() {
		if m.Auth || m.Type != "kv" {
			continue
		}
		v2 := strings.TrimSpace(m.Options["version"]) == "2"
		if prefix != "" && !strings.HasPrefix(m.Path, prefix) && !strings.HasPrefix(prefix, m.Path) {
			continue
		}
		base := ""
		if v2 {
			base = "metadata/"
		}
		stack := []string{""}
		for len(stack) > 0 {
			if err := ctx.Err(); err != nil {
				return nil, false, err
			}
			dir := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			keys, err := listKeys(ctx, src, m.Path, base+dir)
			if err != nil {
				return nil, false, fmt.Errorf("list %s%s%s: %w", m.Path, base, dir, err)
			}
			for _, k := range keys {
				if strings.HasSuffix(k, "/") {
					stack = append(stack, dir+k)
					continue
				}
				s := secret{Mount: m.Path, Key: dir + k, KVVersion: 1, Path: m.Path + dir + k}
				if v2 {
					s.KVVersion, s.Path = 2, m.Path+"data/"+dir+k
				}
				if prefix != "" && !strings.HasPrefix(s.Path, prefix) {
					continue
				}
				if len(out) >= MaxSecrets {
					return out, true, nil
				}
				if v2 {
					if err := readMeta(ctx, src, &s); err != nil {
						return nil, false, err
					}
				}
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b secret) int { return strings.Compare(a.Path, b.Path) })
	return out, false, nil
}

func listKeys(ctx context.Context, src Source, mount, path string) ([]string, error) {
	resp, err := src.Read(ctx, mount, logical.ListOperation, path)
	if err != nil {
		if code, _, _ := logical.StatusOf(err); code == 404 {
			return nil, nil
		}
		return nil, err
	}
	if resp == nil {
		return nil, nil
	}
	keys, _, err := logical.Strings(resp.Data, "keys")
	return keys, err
}

func readMeta(ctx context.Context, src Source, s *secret) error {
	resp, err := src.Read(ctx, s.Mount, logical.ReadOperation, "metadata/"+s.Key)
	if err != nil {
		return fmt.Errorf("read %smetadata/%s: %w", s.Mount, s.Key, err)
	}
	if resp == nil {
		return nil
	}
	d := resp.Data
	s.Created = parseTime3339(d["created_time"])
	switch v := d["current_version"].(type) {
	case int:
		s.CurrentVersion = v
	case int64:
		s.CurrentVersion = int(v)
	case float64:
		s.CurrentVersion = int(v)
	}
	if vs, ok := d["versions"].(map[string]any); ok {
		if cur, ok := vs[strconv.Itoa(s.CurrentVersion)].(map[string]any); ok {
			s.Rotated = parseTime3339(cur["created_time"])
		}
	}
	switch c := d["custom_metadata"].(type) {
	case map[string]string:
		s.Custom = c
	case map[string]any:
		s.Custom = map[string]string{}
		for k, v := range c {
			if str, ok := v.(string); ok {
				s.Custom[k] = str
			}
		}
	}
	return nil
}

func parseTime3339(v any) time.Time {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
