package secretref

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/mask"
	"github.com/keyward/keyward/internal/sensitive"
)

// Client is what a Fetcher needs from the server; *api.Client has it.
type Client interface {
	Read(ctx context.Context, path string, query url.Values) (*api.Secret, error)
	MountFor(ctx context.Context, path string) (*api.MountInfo, error)
}

// Lease is a lease a Fetcher obtained by reading a path that returned one
// (dynamic credentials). Its ID is not a credential, but it is only ever
// used to renew or revoke the lease.
type Lease struct {
	ID        string
	Path      string // the API path that was read
	TTL       time.Duration
	Renewable bool
}

// Fetcher reads references from the server. It reads each distinct path
// (and version) once, so several fields of one dynamic credential share one
// lease, and remembers every lease it obtained. It is not safe for
// concurrent use.
type Fetcher struct {
	c      Client
	mounts map[string]mountKind // by reference path
	reads  map[string]map[string]any
	leases []Lease
}

type mountKind struct {
	mount string // "secret/", "" when unknown
	kv2   bool
}

// NewFetcher returns a Fetcher reading through c.
func NewFetcher(c Client) *Fetcher {
	return &Fetcher{c: c, mounts: map[string]mountKind{}, reads: map[string]map[string]any{}}
}

// Leases returns the leases obtained so far.
func (f *Fetcher) Leases() []Lease { return append([]Lease(nil), f.leases...) }

// apiPath returns the path to read for r and whether it is in a KV version
// 2 mount. A KV v2 reference may use the API form (secret/data/x) or the
// logical form (secret/x); the mount is found with sys/internal/ui/mounts.
// When that lookup fails (an older server, or a token without access), the
// path is read as written.
func (f *Fetcher) apiPath(ctx context.Context, r Ref) (string, bool) {
	mk, ok := f.mounts[r.Path]
	if !ok {
		if m, err := f.c.MountFor(ctx, r.Path); err == nil && m.Path != "" {
			mk = mountKind{mount: strings.TrimSuffix(m.Path, "/") + "/", kv2: m.Type == "kv" && m.Options["version"] == "2"}
		}
		f.mounts[r.Path] = mk
	}
	if !mk.kv2 {
		return r.Path, false
	}
	rel, ok := strings.CutPrefix(r.Path+"/", mk.mount)
	if !ok {
		return r.Path, true
	}
	rel = strings.TrimSuffix(rel, "/")
	if strings.HasPrefix(rel, "data/") {
		return r.Path, true
	}
	return mk.mount + "data/" + rel, true
}

// Data reads the secret r points at (ignoring r.Field) and returns its
// data: for KV version 2 the secret's own fields, not the envelope. The
// map is shared; callers must not change it.
func (f *Fetcher) Data(ctx context.Context, r Ref) (map[string]any, error) {
	p, kv2 := f.apiPath(ctx, r)
	if r.Version > 0 && !kv2 {
		return nil, fmt.Errorf("%s: version pinning needs a KV version 2 mount", r)
	}
	key := p
	var q url.Values
	if r.Version > 0 {
		q = url.Values{"version": {strconv.Itoa(r.Version)}}
		key += "?" + q.Encode()
	}
	if d, ok := f.reads[key]; ok {
		return d, nil
	}
	s, err := f.c.Read(ctx, p, q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	if s == nil || s.Data == nil {
		return nil, fmt.Errorf("%s: no secret at %s", r, p)
	}
	if s.LeaseID != "" {
		f.leases = append(f.leases, Lease{ID: s.LeaseID, Path: p, TTL: time.Duration(s.LeaseDuration) * time.Second, Renewable: s.Renewable})
	}
	data := s.Data
	if kv2 {
		inner, ok := s.Data["data"].(map[string]any)
		if !ok {
			// A deleted or destroyed version has "data": null.
			return nil, fmt.Errorf("%s: no data at %s (deleted or destroyed version?)", r, p)
		}
		data = inner
	}
	f.reads[key] = data
	return data, nil
}

// Value returns the value r points at: one field, or the whole data as a
// JSON object when r.Field is empty.
func (f *Fetcher) Value(ctx context.Context, r Ref) (sensitive.String, error) {
	data, err := f.Data(ctx, r)
	if err != nil {
		return sensitive.String{}, err
	}
	if r.Field == "" {
		raw, err := json.Marshal(data)
		if err != nil {
			return sensitive.String{}, fmt.Errorf("%s: encode data: %w", r, err)
		}
		return sensitive.NewString(string(raw)), nil
	}
	v, ok := data[r.Field]
	if !ok {
		return sensitive.String{}, fmt.Errorf("%s: no field %q (fields: %s)", r, r.Field, strings.Join(fieldNames(data), ", "))
	}
	s, err := stringOf(v)
	if err != nil {
		return sensitive.String{}, fmt.Errorf("%s: %w", r, err)
	}
	return sensitive.NewString(s), nil
}

// stringOf turns a JSON value into the text a job gets: strings as they
// are, numbers without exponent, everything else as JSON.
func stringOf(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case json.Number:
		return x.String(), nil
	case nil:
		return "", nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode field: %w", err)
	}
	return string(raw), nil
}

func fieldNames(data map[string]any) []string {
	names := make([]string, 0, len(data))
	for k := range data {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// fetched returns every string value read so far, for masking errors.
func (f *Fetcher) fetched() []mask.Secret {
	var out []mask.Secret
	for _, data := range f.reads {
		for k, v := range data {
			if s, err := stringOf(v); err == nil && s != "" {
				out = append(out, mask.Secret{Name: k, Value: s})
			}
		}
	}
	return out
}
