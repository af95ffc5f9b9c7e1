package watch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// CanaryPrefix is where the canary registry lives in the watch service's
// storage: the mark is kept here, outside the secret and its metadata, so
// a reader of the secret sees nothing special.
const CanaryPrefix = "canaries/"

// Canary is one registered honeytoken: a KV secret ("secret/app/aws",
// the path as `kv get` takes it) or a dynamic role's credentials path
// ("database/creds/reporting"). Any read of it raises a critical alert.
type Canary struct {
	Path    string    `json:"path"`
	Type    string    `json:"type"` // aws, database-url, token, generic, database-role
	Created time.Time `json:"created"`
	// Note is free text for responders ("planted in the CI runner image").
	Note string `json:"note,omitempty"`
}

// CanaryTypes are the kinds a canary may be.
var CanaryTypes = []string{"aws", "database-url", "token", "generic", "database-role"}

func canaryKey(path string) string {
	sum := sha256.Sum256([]byte(path))
	return CanaryPrefix + hex.EncodeToString(sum[:16])
}

// CleanCanaryPath checks and normalises a canary path: a mount and a
// name, no empty or dot segments, no glob.
func CleanCanaryPath(p string) (string, error) {
	p = strings.Trim(strings.TrimSpace(p), "/")
	if p == "" || !strings.Contains(p, "/") {
		return "", fmt.Errorf("path %q: want MOUNT/NAME", p)
	}
	if len(p) > 1024 {
		return "", fmt.Errorf("path: longer than 1024 bytes")
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "*+\x00") {
			return "", fmt.Errorf("path %q: bad segment %q", p, seg)
		}
	}
	return p, nil
}

// canarySet matches events against the registry. It is immutable; the
// engine swaps in a new one when the registry changes.
type canarySet struct {
	// byPath maps every request path that reads a canary to its
	// registered path: the path itself (KV v1, database creds) and, for
	// KV v2, MOUNT/data/NAME.
	byPath map[string]string
	list   []Canary
}

func newCanarySet(cs []Canary) *canarySet {
	s := &canarySet{byPath: make(map[string]string, 2*len(cs)), list: cs}
	for _, c := range cs {
		s.byPath[c.Path] = c.Path
		if mount, name, ok := strings.Cut(c.Path, "/"); ok {
			s.byPath[mount+"/data/"+name] = c.Path
		}
	}
	return s
}

// match reports whether e reads a canary, and which. A KV v2 path is
// matched on the mount's first segment (a canary at "kv/team/x" written
// into a mount "kv/team/" is registered as that full path and matched as
// kv/team/data/x through the event's mount).
func (s *canarySet) match(e *Event) (string, bool) {
	if s == nil || len(s.byPath) == 0 {
		return "", false
	}
	if c, ok := s.byPath[e.Path]; ok {
		return c, true
	}
	if e.Mount != "" && strings.HasPrefix(e.Path, e.Mount+"data/") {
		if c, ok := s.byPath[e.Mount+strings.TrimPrefix(e.Path, e.Mount+"data/")]; ok {
			return c, true
		}
	}
	return "", false
}

func decodeCanary(data []byte) (Canary, error) {
	var c Canary
	if err := json.Unmarshal(data, &c); err != nil {
		return Canary{}, err
	}
	if _, err := CleanCanaryPath(c.Path); err != nil {
		return Canary{}, err
	}
	return c, nil
}
