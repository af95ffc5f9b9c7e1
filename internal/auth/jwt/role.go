package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
)

// Role says what a token must prove and what the resulting Keyward token
// gets. Stored as JSON under role/NAME.
type Role struct {
	RoleType             string              `json:"role_type"`
	BoundAudiences       []string            `json:"bound_audiences"`
	AllowAnyAud          bool                `json:"allow_any_audience"`
	BoundSubject         string              `json:"bound_subject"`
	BoundClaims          map[string][]string `json:"bound_claims"`
	BoundClaimsType      string              `json:"bound_claims_type"`
	ClaimMappings        map[string]string   `json:"claim_mappings"`
	UserClaim            string              `json:"user_claim"`
	UserClaimJSONPointer bool                `json:"user_claim_json_pointer"`
	GroupsClaim          string              `json:"groups_claim"`
	AllowUnbound         bool                `json:"allow_unbound"`
	// Environment is the environment every login with the role gets;
	// EnvironmentClaim names a claim the environment is read from
	// (GitHub's environment, GitLab's environment_scope). At most one is
	// set; the result is the token's "environment" metadata.
	Environment      string `json:"environment,omitempty"`
	EnvironmentClaim string `json:"environment_claim,omitempty"`

	// Token holds the token_* settings of the tokens a login issues; its
	// Type is the token_type asked for, which the mount's token_type and
	// tokenparams.Resolve decide on.
	Token tokenparams.Params `json:"token"`

	ClockSkewLeeway  time.Duration `json:"clock_skew_leeway"`
	ExpirationLeeway time.Duration `json:"expiration_leeway"`
	NotBeforeLeeway  time.Duration `json:"not_before_leeway"`
}

// Leeway defaults: a token is accepted up to one minute after exp and
// before nbf or iat, to absorb clock differences between issuer and server.
const (
	DefaultClockSkewLeeway = time.Minute
	maxLeeway              = 10 * time.Minute
)

// ScopeClaims are the claims that tie a token to one repository, project,
// namespace or workload. A role must bind one of them (or bound_subject),
// or say allow_unbound=true: an issuer like GitHub's is shared by every
// tenant and lets the job choose its audience, so aud alone admits anyone.
var ScopeClaims = []string{
	"sub", "repository", "repository_id", "repository_owner_id", "project_path", "project_id",
	"namespace_path", "namespace_id", "/kubernetes.io/namespace", "/kubernetes.io/serviceaccount/name",
	"/kubernetes.io/serviceaccount/uid", "kubernetes.io/serviceaccount/namespace",
	"kubernetes.io/serviceaccount/service-account.name",
}

var roleFields = roleDocs.Names()

// validName accepts role names of letters, digits, '.', '_' and '-'.
func validName(s string) bool {
	if s == "" || len(s) > 128 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// newRole returns a role with defaults.
func newRole() Role {
	return Role{RoleType: "jwt", BoundClaimsType: "string", ClockSkewLeeway: DefaultClockSkewLeeway}
}

// parseRole merges request data into r (an existing role or newRole()).
func parseRole(r Role, data map[string]any) (Role, error) {
	if err := logical.UnknownFields(data, roleFields...); err != nil {
		return r, err
	}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	read(&errs, data, trimmedStr, "role_type", &r.RoleType)
	read(&errs, data, trimmedStr, "bound_subject", &r.BoundSubject)
	read(&errs, data, trimmedStr, "bound_claims_type", &r.BoundClaimsType)
	read(&errs, data, trimmedStr, "user_claim", &r.UserClaim)
	read(&errs, data, trimmedStr, "groups_claim", &r.GroupsClaim)
	read(&errs, data, trimmedStr, "environment", &r.Environment)
	read(&errs, data, trimmedStr, "environment_claim", &r.EnvironmentClaim)
	read(&errs, data, logical.Strings, "bound_audiences", &r.BoundAudiences)
	read(&errs, data, logical.Bool, "allow_any_audience", &r.AllowAnyAud)
	read(&errs, data, logical.Bool, "user_claim_json_pointer", &r.UserClaimJSONPointer)
	read(&errs, data, logical.Bool, "allow_unbound", &r.AllowUnbound)
	read(&errs, data, logical.Duration, "clock_skew_leeway", &r.ClockSkewLeeway)
	read(&errs, data, logical.Duration, "expiration_leeway", &r.ExpirationLeeway)
	read(&errs, data, logical.Duration, "not_before_leeway", &r.NotBeforeLeeway)
	add(r.Token.Parse(data))
	if v, ok := data["bound_claims"]; ok {
		bc, err := parseBoundClaims(v)
		add(err)
		if err == nil {
			r.BoundClaims = bc
		}
	}
	if _, ok := data["claim_mappings"]; ok {
		m, _, err := logical.StringMap(data, "claim_mappings")
		add(err)
		if err == nil {
			r.ClaimMappings = m
		}
	}
	if len(errs) > 0 {
		return r, errors.Join(errs...)
	}
	return r, r.validate()
}

// read sets *dst from data[key], decoded by get, when the key is present;
// a decoding error is added to errs instead, so a write reports them all.
func read[T any](errs *[]error, data map[string]any, get func(map[string]any, string) (T, bool, error), key string, dst *T) {
	v, ok, err := get(data, key)
	if err != nil {
		*errs = append(*errs, err)
	} else if ok {
		*dst = v
	}
}

// trimmedStr is logical.Str with surrounding spaces removed.
func trimmedStr(data map[string]any, key string) (string, bool, error) {
	v, ok, err := logical.Str(data, key)
	return strings.TrimSpace(v), ok, err
}

// parseBoundClaims accepts a JSON object whose values are strings, numbers,
// booleans or lists of those; every value becomes its text (true is "true").
func parseBoundClaims(v any) (map[string][]string, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, logical.BadRequest("field \"bound_claims\": expected a JSON object")
	}
	out := make(map[string][]string, len(m))
	for k, e := range m {
		if strings.TrimSpace(k) == "" {
			return nil, logical.BadRequest("field \"bound_claims\": empty claim name")
		}
		var vals []string
		if s, ok := scalarString(e); ok {
			vals = []string{s}
		} else if l, ok := e.([]any); ok {
			for _, x := range l {
				s, ok := scalarString(x)
				if !ok {
					return nil, logical.BadRequest("field \"bound_claims\": claim %q: values must be strings, numbers or booleans", k)
				}
				vals = append(vals, s)
			}
		} else {
			return nil, logical.BadRequest("field \"bound_claims\": claim %q: values must be strings, numbers, booleans or lists of them", k)
		}
		if len(vals) == 0 {
			return nil, logical.BadRequest("field \"bound_claims\": claim %q: empty list would match nothing", k)
		}
		out[k] = vals
	}
	return out, nil
}

// validate checks a role's consistency and the binding rules.
func (r Role) validate() error {
	switch r.RoleType {
	case "jwt":
	case "oidc":
		return logical.BadRequest("role_type \"oidc\" (browser login) is not supported; use role_type=jwt")
	default:
		return logical.BadRequest("role_type must be jwt")
	}
	if r.UserClaim == "" {
		return logical.BadRequest("user_claim is required (e.g. sub)")
	}
	if len(r.BoundAudiences) == 0 && !r.AllowAnyAud {
		return logical.BadRequest("bound_audiences is required (set allow_any_audience=true to skip the audience check)")
	}
	if r.BoundClaimsType != "string" && r.BoundClaimsType != "glob" {
		return logical.BadRequest("bound_claims_type must be string or glob")
	}
	if !r.AllowUnbound && !r.scoped() {
		return logical.BadRequest("the role binds no subject, repository, project or namespace claim, so any job of the issuer "+
			"could log in: bind bound_subject or one of bound_claims %s (with a value that is not only wildcards), or set allow_unbound=true",
			strings.Join(ScopeClaims, ", "))
	}
	if r.Environment != "" && r.EnvironmentClaim != "" {
		return logical.BadRequest("set environment or environment_claim, not both")
	}
	if r.Environment != "" && !validEnvironment(r.Environment) {
		return logical.BadRequest("environment must be 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit")
	}
	targets := map[string]string{}
	for claim, meta := range r.ClaimMappings {
		if claim == "" || meta == "" {
			return logical.BadRequest("claim_mappings: empty claim or metadata name")
		}
		if meta == MetaRole || (meta == MetaGroups && r.GroupsClaim != "") ||
			(meta == MetaEnvironment && (r.Environment != "" || r.EnvironmentClaim != "")) {
			return logical.BadRequest("claim_mappings: metadata key %q is reserved", meta)
		}
		if _, dup := targets[meta]; dup {
			return logical.BadRequest("claim_mappings: metadata key %q is mapped twice", meta)
		}
		targets[meta] = claim
	}
	for name, l := range map[string]time.Duration{"clock_skew_leeway": r.ClockSkewLeeway, "expiration_leeway": r.ExpirationLeeway, "not_before_leeway": r.NotBeforeLeeway} {
		if l < 0 || l > maxLeeway {
			return logical.BadRequest("%s must be between 0 and %s", name, maxLeeway)
		}
	}
	return nil
}

// scoped reports whether the role binds a subject or a scope claim with a
// value that is more than wildcards.
func (r Role) scoped() bool {
	if r.BoundSubject != "" {
		return true
	}
	for k, vals := range r.BoundClaims {
		if !isScopeClaim(k) {
			continue
		}
		for _, v := range vals {
			if r.BoundClaimsType == "string" || strings.Trim(v, "*") != "" {
				return true
			}
		}
	}
	return false
}

// isScopeClaim reports whether claim key k is one of ScopeClaims; a JSON
// pointer to a top-level claim ("/sub") counts as that claim.
func isScopeClaim(k string) bool {
	if p := claimPath(k); strings.HasPrefix(k, "/") && len(p) == 1 {
		k = p[0]
	}
	return slices.Contains(ScopeClaims, k)
}

// view is the role as returned by a read.
func (r Role) view() map[string]any {
	secs := func(d time.Duration) int64 { return int64(d / time.Second) }
	bc := map[string]any{}
	for k, v := range r.BoundClaims {
		bc[k] = v
	}
	cm := map[string]string{}
	for k, v := range r.ClaimMappings {
		cm[k] = v
	}
	m := map[string]any{
		"role_type":               r.RoleType,
		"bound_audiences":         nonNil(r.BoundAudiences),
		"allow_any_audience":      r.AllowAnyAud,
		"bound_subject":           r.BoundSubject,
		"bound_claims":            bc,
		"bound_claims_type":       r.BoundClaimsType,
		"claim_mappings":          cm,
		"user_claim":              r.UserClaim,
		"user_claim_json_pointer": r.UserClaimJSONPointer,
		"groups_claim":            r.GroupsClaim,
		"allow_unbound":           r.AllowUnbound,
		"clock_skew_leeway":       secs(r.ClockSkewLeeway),
		"expiration_leeway":       secs(r.ExpirationLeeway),
		"not_before_leeway":       secs(r.NotBeforeLeeway),
	}
	// Keyward's own fields appear only when set, so a role read looks
	// like Vault's unless they are used.
	if r.Environment != "" {
		m["environment"] = r.Environment
	}
	if r.EnvironmentClaim != "" {
		m["environment_claim"] = r.EnvironmentClaim
	}
	r.Token.Map(m)
	return m
}

func roleKey(name string) string { return "role/" + name }

// loadRole returns the stored role, or nil. A role stored in the shape of
// releases before the token object (token_* at the top level; storedRole)
// is rewritten in the current shape on its first load, once: under
// b.roleMu, which role writes and deletes hold too, so no write is lost to
// it.
func (b *Backend) loadRole(ctx context.Context, s logical.Storage, name string) (*Role, error) {
	r, legacy, err := getRole(ctx, s, name)
	if err != nil || !legacy {
		return r, err
	}
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	if r, legacy, err = getRole(ctx, s, name); err != nil || !legacy {
		return r, err
	}
	if err := putRole(ctx, s, name, r); err != nil {
		return nil, fmt.Errorf("migrate role: %w", err)
	}
	return r, nil
}

// storedRole decodes a role in either shape: the current one, whose token
// object lands in Token (shadowing Role.Token), or the one before it, whose
// token_* fields at the top level land in the embedded Params (the names
// tokenparams.Params gives them).
type storedRole struct {
	Role
	tokenparams.Params
	Token *tokenparams.Params `json:"token"`
}

// getRole reads and decodes a role, nil if none; legacy reports that it was
// stored in the old shape.
func getRole(ctx context.Context, s logical.Storage, name string) (r *Role, legacy bool, err error) {
	raw, err := s.Get(ctx, roleKey(name))
	if err != nil {
		return nil, false, fmt.Errorf("read role: %w", err)
	}
	if raw == nil {
		return nil, false, nil
	}
	var st storedRole
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, false, fmt.Errorf("decode role: %w", err)
	}
	if st.Token == nil {
		st.Role.Token = st.Params
		return &st.Role, true, nil
	}
	st.Role.Token = *st.Token
	return &st.Role, false, nil
}

func putRole(ctx context.Context, s logical.Storage, name string, r *Role) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode role: %w", err)
	}
	if err := s.Put(ctx, roleKey(name), raw); err != nil {
		return fmt.Errorf("store role: %w", err)
	}
	return nil
}

// listRoles returns role names, sorted.
func listRoles(ctx context.Context, s logical.Storage) ([]string, error) {
	keys, err := s.List(ctx, "role/")
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	out := keys[:0]
	for _, k := range keys {
		if !strings.HasSuffix(k, "/") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

// validEnvironment accepts environment names as policy conditions compare
// them: 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a
// letter or digit.
func validEnvironment(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}
