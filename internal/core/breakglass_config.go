package core

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
)

// Break-glass holder kinds: who must agree before the emergency token is
// minted.
const (
	// HoldersUnsealKeys: the holders of the unseal key shares (the recovery
	// key shares under an auto seal), verified against the barrier as root
	// generation verifies them.
	HoldersUnsealKeys = "unseal_keys"
	// HoldersOfficers: named break-glass officers, each approving with a
	// token of their own.
	HoldersOfficers = "officers"
)

// Bounds of the emergency token's lifetime.
const (
	breakGlassDefaultTTL = time.Hour
	breakGlassMaxTTL     = 4 * time.Hour
	breakGlassMinTTL     = time.Second
	// breakGlassMaxOfficers bounds the officer list.
	breakGlassMaxOfficers = 64
	// breakGlassMaxReason bounds the reason's length in bytes.
	breakGlassMaxReason = 1024
)

// breakGlassConfig is sys/break-glass/config, stored behind the barrier.
type breakGlassConfig struct {
	// Policies are exactly the policies of the emergency token.
	Policies []string      `json:"policies"`
	TTL      time.Duration `json:"ttl"`
	Holders  string        `json:"holders"`
	// Quorum is M: the approvals (distinct officers, or distinct shares)
	// needed. With unseal_keys at least the key threshold is always
	// needed, since fewer shares do not reconstruct the key.
	Quorum int `json:"quorum"`
	// Officers name the officers (N): "MOUNT/NAME" for the user NAME of
	// the auth method at auth/MOUNT (userpass/alice, jwt/ops-bob), or
	// "entity:ID" for an identity entity.
	Officers []string `json:"officers,omitempty"`
	// OfficerPolicy, when set, must be among the policies of an officer's
	// token as well.
	OfficerPolicy string `json:"officer_policy,omitempty"`
}

// parseBreakGlassConfig reads a config write. Every problem is reported at
// once; the result always passes validate.
func parseBreakGlassConfig(data map[string]any) (*breakGlassConfig, error) {
	if err := logical.UnknownFields(data, "policies", "ttl", "holders", "quorum", "officers", "officer_policy"); err != nil {
		return nil, err
	}
	cfg := &breakGlassConfig{TTL: breakGlassDefaultTTL, Holders: HoldersUnsealKeys}
	var err error
	if cfg.Policies, _, err = logical.Strings(data, "policies"); err != nil {
		return nil, err
	}
	if d, ok, err := logical.Duration(data, "ttl"); err != nil {
		return nil, err
	} else if ok {
		cfg.TTL = d
	}
	if h, ok, err := logical.Str(data, "holders"); err != nil {
		return nil, err
	} else if ok && h != "" {
		cfg.Holders = strings.ToLower(strings.TrimSpace(h))
	}
	if cfg.Quorum, _, err = logical.Int(data, "quorum"); err != nil {
		return nil, err
	}
	if cfg.Officers, _, err = logical.Strings(data, "officers"); err != nil {
		return nil, err
	}
	for i, o := range cfg.Officers {
		cfg.Officers[i] = normalizeOfficer(o)
	}
	if cfg.OfficerPolicy, _, err = logical.Str(data, "officer_policy"); err != nil {
		return nil, err
	}
	cfg.OfficerPolicy = strings.TrimSpace(cfg.OfficerPolicy)
	slices.Sort(cfg.Policies)
	cfg.Policies = slices.Compact(cfg.Policies)
	if cfg.Quorum == 0 && cfg.Holders == HoldersOfficers {
		cfg.Quorum = 2
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// normalizeOfficer is the form an officer name is compared in: trimmed,
// mount and user name lower case (the auth methods fold user names), an
// entity id as given.
func normalizeOfficer(s string) string {
	s = strings.TrimSpace(s)
	if id, ok := strings.CutPrefix(s, "entity:"); ok {
		return "entity:" + strings.TrimSpace(id)
	}
	return strings.ToLower(strings.Trim(s, "/"))
}

// validOfficerName reports whether s (normalized) names an officer.
func validOfficerName(s string) bool {
	if id, ok := strings.CutPrefix(s, "entity:"); ok {
		return id != "" && !strings.ContainsAny(id, " /\t\n")
	}
	mount, user, ok := strings.Cut(s, "/")
	if !ok || mount == "" || user == "" || mount == "token" || strings.ContainsAny(s, " \t\n*+") {
		return false
	}
	return true
}

// validate reports every problem of the configuration at once.
func (cfg *breakGlassConfig) validate() error {
	var errs []string
	if len(cfg.Policies) == 0 {
		errs = append(errs, "policies: name at least one emergency policy")
	}
	if err := tokenparams.ValidatePolicies("policies", cfg.Policies); err != nil {
		errs = append(errs, err.Error())
	}
	for _, p := range cfg.Policies {
		if p == "root" {
			errs = append(errs, "policies: the emergency policy cannot be root (use operator generate-root for that)")
		}
	}
	if cfg.TTL < breakGlassMinTTL || cfg.TTL > breakGlassMaxTTL {
		errs = append(errs, fmt.Sprintf("ttl must be between %s and %s", breakGlassMinTTL, breakGlassMaxTTL))
	}
	switch cfg.Holders {
	case HoldersUnsealKeys:
		if cfg.Quorum < 0 || cfg.Quorum > 255 {
			errs = append(errs, "quorum must be between 0 (the key threshold) and 255")
		}
		if len(cfg.Officers) > 0 || cfg.OfficerPolicy != "" {
			errs = append(errs, "officers and officer_policy apply only to holders = \"officers\"")
		}
	case HoldersOfficers:
		if len(cfg.Officers) == 0 {
			errs = append(errs, "officers: name the break-glass officers (MOUNT/NAME or entity:ID)")
		}
		if len(cfg.Officers) > breakGlassMaxOfficers {
			errs = append(errs, fmt.Sprintf("officers: at most %d", breakGlassMaxOfficers))
		}
		seen := map[string]bool{}
		for _, o := range cfg.Officers {
			if !validOfficerName(o) {
				errs = append(errs, fmt.Sprintf("officers: %q is not MOUNT/NAME or entity:ID", o))
			} else if seen[o] {
				errs = append(errs, fmt.Sprintf("officers: %q is listed twice", o))
			}
			seen[o] = true
		}
		if cfg.Quorum < 2 || cfg.Quorum > len(cfg.Officers) {
			errs = append(errs, "quorum must be at least 2 and at most the number of officers")
		}
		if cfg.OfficerPolicy != "" {
			if err := tokenparams.ValidatePolicies("officer_policy", []string{cfg.OfficerPolicy}); err != nil {
				errs = append(errs, err.Error())
			}
		}
	default:
		errs = append(errs, fmt.Sprintf("holders must be %q or %q", HoldersUnsealKeys, HoldersOfficers))
	}
	if len(errs) > 0 {
		return logical.BadRequest("break-glass config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// data is the configuration as sys/break-glass/config reads it.
func (cfg *breakGlassConfig) data() map[string]any {
	m := map[string]any{"policies": cfg.Policies, "ttl": int64(cfg.TTL / time.Second), "holders": cfg.Holders,
		"quorum": cfg.Quorum}
	if cfg.Holders == HoldersOfficers {
		m["officers"] = cfg.Officers
		m["officer_policy"] = cfg.OfficerPolicy
	}
	return m
}
