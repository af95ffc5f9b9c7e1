package report

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/watch"
)

// DefaultProductionPatterns make a path a production path when one of its
// segments is "prod" or "production".
var DefaultProductionPatterns = []string{"prod", "production"}

// Config is sys/reports/config.
type Config struct {
	// ProductionPatterns decide which secrets are production secrets
	// (IsProduction). Empty means DefaultProductionPatterns.
	ProductionPatterns []string `json:"production_patterns,omitempty"`
}

// RotationPolicy is sys/reports/rotation-policies/NAME: the secrets whose
// path matches Pattern (read as in policies: a final * is a prefix match,
// + one segment) must be rotated at least every MaxAge.
type RotationPolicy struct {
	Name    string        `json:"name"`
	Pattern string        `json:"pattern"`
	MaxAge  time.Duration `json:"max_age"`
}

const (
	configKey        = "config"
	policyPrefix     = "rotation-policies/"
	maxPatterns      = 64
	maxPatternLength = 512
	maxPolicies      = 1000
)

var policyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// ValidPattern checks a path pattern (production or rotation policy): not
// empty, printable, at most 512 bytes, * only at the end.
func ValidPattern(p string) error {
	switch {
	case p == "" || strings.TrimSpace(p) != p:
		return fmt.Errorf("pattern must not be empty or padded")
	case len(p) > maxPatternLength || strings.ContainsFunc(p, isControl):
		return fmt.Errorf("pattern must be at most %d printable characters", maxPatternLength)
	case strings.Contains(strings.TrimSuffix(p, "*"), "*"):
		return fmt.Errorf("pattern %q: * is allowed only at the end", short(p))
	}
	return nil
}

// IsProduction reports whether the secret at path (its API path,
// "secret/data/prod/db") is a production secret under patterns (nil:
// DefaultProductionPatterns). A pattern holding "/" is a path pattern
// (watch.MatchPath); one without is a segment name, matched without
// regard to case against every segment of path. This is the one place
// that decides what "production" means for the reports.
func IsProduction(patterns []string, path string) bool {
	if len(patterns) == 0 {
		patterns = DefaultProductionPatterns
	}
	for _, p := range patterns {
		if strings.Contains(p, "/") {
			if watch.MatchPath(p, path) {
				return true
			}
			continue
		}
		for seg := range strings.SplitSeq(path, "/") {
			if strings.EqualFold(seg, p) {
				return true
			}
		}
	}
	return false
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// store keeps the config and the rotation policies in the service's
// storage (sys/reports/ behind the barrier).
type store struct{ s logical.Storage }

func (st store) config(ctx context.Context) (Config, error) {
	var c Config
	_, err := logical.GetJSON(ctx, st.s, configKey, &c)
	return c, err
}

func (st store) putConfig(ctx context.Context, c Config) error {
	return logical.PutJSON(ctx, st.s, configKey, c)
}

func (st store) policies(ctx context.Context) ([]RotationPolicy, error) {
	names, err := st.s.List(ctx, policyPrefix)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	out := make([]RotationPolicy, 0, len(names))
	for _, n := range names {
		var p RotationPolicy
		ok, err := logical.GetJSON(ctx, st.s, policyPrefix+n, &p)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}
