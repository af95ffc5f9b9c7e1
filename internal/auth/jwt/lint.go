package jwt

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Severity ranks a lint finding.
type Severity string

// Severities: high means a job outside the intended one can probably log in.
const (
	SeverityHigh Severity = "high"
	SeverityWarn Severity = "warn"
	SeverityInfo Severity = "info"
)

// Finding is one lint result.
type Finding struct {
	Severity Severity
	Code     string
	Message  string
}

// Lint codes.
const (
	LintPullRequest     = "pull-request"
	LintPRTarget        = "pull-request-target"
	LintUnprotectedRef  = "unprotected-ref"
	LintBroadGlob       = "broad-glob"
	LintPrefixGlob      = "prefix-glob"
	LintMutableName     = "mutable-name"
	LintAudienceOnly    = "audience-only"
	LintAnyAudience     = "any-audience"
	LintLongTTL         = "long-ttl"
	LintRefWithoutType  = "ref-without-ref-type"
	LintNoIssuer        = "no-issuer"
	LintUnlimitedTokens = "unlimited-uses"
)

// TTL thresholds above which a CI role is reported.
const (
	lintMaxTTL    = time.Hour
	lintMaxMaxTTL = 4 * time.Hour
)

// Lint reports risky bindings of role r; c (may be nil) adds config
// context. Findings are sorted by severity, then code.
func Lint(r *Role, c *Config) []Finding {
	var out []Finding
	add := func(s Severity, code, format string, args ...any) {
		out = append(out, Finding{Severity: s, Code: code, Message: fmt.Sprintf(format, args...)})
	}
	glob := r.BoundClaimsType == "glob"
	subs := r.subjects()
	gh := r.isGitHub(c)
	gl := r.isGitLab(c)

	if !r.scoped() {
		add(SeverityHigh, LintAudienceOnly, "the role binds no subject, repository, project or namespace: any token of the issuer with a matching audience logs in")
	}
	if r.AllowAnyAud {
		add(SeverityWarn, LintAnyAudience, "allow_any_audience skips the audience check: tokens minted for other services are accepted")
	}

	// Pull requests and forks (GitHub).
	if gh {
		events := r.BoundClaims["event_name"]
		if slices.Contains(events, "pull_request_target") {
			add(SeverityHigh, LintPRTarget, "event_name admits pull_request_target: those runs execute with the base repository's identity and may build fork code")
		}
		if r.admitsPullRequest(subs, glob) {
			add(SeverityHigh, LintPullRequest, "the role admits pull request runs (sub ...:pull_request, ref refs/pull/...): code from an unreviewed branch or fork can log in; bind an environment or a protected ref")
		}
		_, env := r.BoundClaims["environment"]
		_, ref := r.BoundClaims["ref"]
		if !env && !ref && !subjectPins(subs, ":environment:", ":ref:") {
			add(SeverityWarn, LintUnprotectedRef, "no environment or ref is bound: any branch of the repository can log in; bind environment (with protection rules) or ref")
		}
	}
	// GitLab protected refs.
	if gl {
		if vals, ok := r.BoundClaims["ref_protected"]; !ok || !onlyValue(vals, "true") {
			add(SeverityWarn, LintUnprotectedRef, "ref_protected is not bound to \"true\": jobs on unprotected branches (any developer) can log in")
		}
		if _, ok := r.BoundClaims["ref"]; ok {
			if _, typed := r.BoundClaims["ref_type"]; !typed {
				add(SeverityWarn, LintRefWithoutType, "ref is bound without ref_type: a tag with the branch's name also matches")
			}
		}
	}

	// Globs.
	if glob {
		for _, k := range slices.Sorted(maps.Keys(r.BoundClaims)) {
			for _, p := range r.BoundClaims[k] {
				lintGlob(add, k, p)
			}
		}
	}

	// Mutable names where an immutable id exists.
	for name, id := range map[string]string{
		"repository": "repository_id", "repository_owner": "repository_owner_id",
		"project_path": "project_id", "namespace_path": "namespace_id",
	} {
		if _, ok := r.BoundClaims[name]; ok {
			if _, ok := r.BoundClaims[id]; !ok {
				add(SeverityWarn, LintMutableName, "%s is bound without %s: a deleted or renamed %s can be re-created by someone else; bind %s too", name, id, strings.TrimSuffix(name, "_path"), id)
			}
		}
	}
	if gh {
		for _, s := range subs {
			if strings.HasPrefix(s, "repo:") && !strings.Contains(strings.SplitN(s, ":", 3)[1], "@") {
				if _, ok := r.BoundClaims["repository_id"]; !ok {
					add(SeverityInfo, LintMutableName, "sub uses the repository name: bind repository_id (or use GitHub's immutable subject repo:OWNER@ID/REPO@ID:...) so a recycled name cannot match")
				}
				break
			}
		}
	}

	// Lifetimes.
	if r.Token.TTL == 0 || r.Token.TTL > lintMaxTTL {
		add(SeverityWarn, LintLongTTL, "token_ttl is unset or above %s: CI tokens should live minutes (the mount default applies when unset)", lintMaxTTL)
	}
	if r.Token.Period > 0 {
		add(SeverityWarn, LintLongTTL, "token_period makes tokens renewable forever")
	}
	if r.Token.MaxTTL > lintMaxMaxTTL || r.Token.ExplicitMaxTTL > lintMaxMaxTTL {
		add(SeverityWarn, LintLongTTL, "token_max_ttl or token_explicit_max_ttl is above %s", lintMaxMaxTTL)
	}
	if c != nil && c.BoundIssuer == "" && c.OIDCDiscoveryURL == "" {
		add(SeverityWarn, LintNoIssuer, "the config has no bound_issuer: tokens of any issuer signed by the configured keys are accepted")
	}
	rank := map[Severity]int{SeverityHigh: 0, SeverityWarn: 1, SeverityInfo: 2}
	slices.SortStableFunc(out, func(a, b Finding) int {
		if d := rank[a.Severity] - rank[b.Severity]; d != 0 {
			return d
		}
		return strings.Compare(a.Code, b.Code)
	})
	return out
}

// lintGlob reports over-broad glob patterns for claim k.
func lintGlob(add func(Severity, string, string, ...any), k, p string) {
	if !strings.Contains(p, "*") {
		return
	}
	if strings.Trim(p, "*") == "" {
		add(SeverityHigh, LintBroadGlob, "bound_claims %q is %q: it matches every value", k, p)
		return
	}
	if strings.Contains(p, "**") {
		add(SeverityWarn, LintBroadGlob, "bound_claims %q pattern %q uses **, which crosses ':' and '/'", k, p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '*' {
			continue
		}
		if i > 0 && p[i-1] != ':' && p[i-1] != '/' && p[i-1] != '*' {
			add(SeverityWarn, LintPrefixGlob, "bound_claims %q pattern %q: a '*' after a partial name also matches sibling names (app* matches app-evil); end the name before the '*'", k, p)
			break
		}
	}
	// A whole repository/project segment wildcarded: every repo, new ones included.
	switch {
	case k == "sub" && strings.HasPrefix(p, "repo:"):
		repo := strings.SplitN(p[len("repo:"):], ":", 2)[0]
		if owner, name, ok := strings.Cut(repo, "/"); ok && (strings.Trim(name, "*") == "" || strings.Trim(owner, "*") == "") {
			add(SeverityWarn, LintBroadGlob, "sub pattern %q matches every repository of the owner, including future ones", p)
		}
	case k == "repository" || k == "project_path" || k == "namespace_path":
		if i := strings.LastIndexByte(p, '/'); i >= 0 && strings.Trim(p[i+1:], "*") == "" || strings.HasPrefix(p, "*") {
			add(SeverityWarn, LintBroadGlob, "%s pattern %q matches every repository under it, including future ones", k, p)
		}
	}
}

// subjects returns the sub values the role accepts (bound_subject and
// bound_claims sub).
func (r *Role) subjects() []string {
	var out []string
	if r.BoundSubject != "" {
		out = append(out, r.BoundSubject)
	}
	return append(out, r.BoundClaims["sub"]...)
}

// subjectPins reports whether every accepted subject is present and
// contains one of the markers (so the role is pinned to refs or
// environments through sub).
func subjectPins(subs []string, markers ...string) bool {
	if len(subs) == 0 {
		return false
	}
	for _, s := range subs {
		if !slices.ContainsFunc(markers, func(m string) bool { return strings.Contains(s, m) }) {
			return false
		}
	}
	return true
}

// admitsPullRequest reports whether a GitHub pull request run could
// satisfy the role's sub, ref and event bindings.
func (r *Role) admitsPullRequest(subs []string, glob bool) bool {
	if ev, ok := r.BoundClaims["event_name"]; ok {
		if !slices.Contains(ev, "pull_request") && !slices.Contains(ev, "pull_request_target") && !(glob && slices.ContainsFunc(ev, func(p string) bool { return GlobMatch(p, "pull_request") })) {
			return false
		}
	}
	if _, ok := r.BoundClaims["environment"]; ok {
		return false // a PR job can still use an environment, but protection rules gate it
	}
	if refs, ok := r.BoundClaims["ref"]; ok {
		if !slices.ContainsFunc(refs, func(p string) bool {
			return strings.HasPrefix(p, "refs/pull/") || (glob && GlobMatch(p, "refs/pull/1/merge"))
		}) {
			return false
		}
	}
	if len(subs) == 0 {
		return true
	}
	for _, s := range subs {
		if strings.HasSuffix(s, ":pull_request") {
			return true
		}
		if glob && strings.Contains(s, "*") {
			// Put "pull_request" where the pattern's last wildcard is.
			i := strings.LastIndexByte(s, '*')
			j := i
			for j > 0 && s[j-1] == '*' {
				j--
			}
			cand := strings.ReplaceAll(s[:j], "*", "x") + "pull_request" + strings.ReplaceAll(s[i+1:], "*", "x")
			if strings.HasSuffix(cand, ":pull_request") && GlobMatch(s, cand) {
				return true
			}
		}
	}
	return false
}

// isGitHub guesses whether the role is for GitHub Actions tokens.
func (r *Role) isGitHub(c *Config) bool {
	if c != nil && (strings.Contains(c.OIDCDiscoveryURL, "token.actions.githubusercontent.com") || strings.Contains(c.BoundIssuer, "token.actions.githubusercontent.com")) {
		return true
	}
	for _, k := range []string{"repository", "repository_id", "repository_owner", "repository_owner_id", "job_workflow_ref", "event_name"} {
		if _, ok := r.BoundClaims[k]; ok {
			return true
		}
	}
	return slices.ContainsFunc(r.subjects(), func(s string) bool { return strings.HasPrefix(s, "repo:") })
}

// isGitLab guesses whether the role is for GitLab CI tokens.
func (r *Role) isGitLab(c *Config) bool {
	for _, k := range []string{"project_path", "project_id", "namespace_path", "namespace_id", "ref_protected", "pipeline_source"} {
		if _, ok := r.BoundClaims[k]; ok {
			return true
		}
	}
	return slices.ContainsFunc(r.subjects(), func(s string) bool { return strings.HasPrefix(s, "project_path:") })
}

func onlyValue(vals []string, v string) bool {
	return len(vals) > 0 && !slices.ContainsFunc(vals, func(x string) bool { return x != v })
}
