package watch

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Rule names: one per detector.
const (
	RuleOffHours       = "off-hours"
	RuleUnknownNetwork = "unknown-network"
	RuleBruteForce     = "brute-force"
	RuleBulkRead       = "bulk-read"
	RuleListWalk       = "list-walk"
	RuleProduction     = "production-first-access"
	RuleRootToken      = "root-token"
	RuleStolenToken    = "stolen-token"
	RuleCanary         = "canary"
	RuleReadAfterRot   = "read-after-rotation"
)

// Containment action kinds (Action.Kind, Rule.Contain).
const (
	ActionRevokeToken = "revoke-token"
	ActionRequireMFA  = "require-mfa"
	ActionSeal        = "seal"
	ActionLockRole    = "lock-role"
)

// RulePrefix is where tuned rules live in the watch service's storage.
const RulePrefix = "rules/"

// Rule tunes one detector. A rule never written has its default
// (DefaultRule); writing a rule stores every field, deleting it returns
// to the default.
type Rule struct {
	Name     string   `json:"name"`
	Enabled  bool     `json:"enabled"`
	Severity Severity `json:"severity"`
	// Threshold is the count that raises the alert within Window: failures
	// (brute-force), distinct paths read (bulk-read) or listed
	// (list-walk), distinct networks (stolen-token).
	Threshold int           `json:"threshold,omitempty"`
	Window    time.Duration `json:"window,omitempty"`
	// MinHistory is how many requests an identity's baseline needs before
	// learned hours and networks count (off-hours, unknown-network);
	// LearnDays how many days it must span (off-hours).
	MinHistory int `json:"min_history,omitempty"`
	LearnDays  int `json:"learn_days,omitempty"`
	// BusinessHours ("09:00-18:00"), Weekdays ("mon".."sun") and TimeZone
	// (IANA) are the configured working time (off-hours): when set, a
	// request outside them alerts whatever the baseline says.
	BusinessHours string   `json:"business_hours,omitempty"`
	Weekdays      []string `json:"weekdays,omitempty"`
	TimeZone      string   `json:"time_zone,omitempty"`
	// AllowedCIDRs are networks that never count as unknown
	// (unknown-network); when set, any other source alerts even for an
	// identity with no history.
	AllowedCIDRs []string `json:"allowed_cidrs,omitempty"`
	// Paths are path patterns (MatchPath): production paths
	// (production-first-access); for other rules, when set, only events
	// on these paths are considered.
	Paths []string `json:"paths,omitempty"`
	// Contain lists containment actions (revoke-token, require-mfa, seal)
	// taken when the rule raises an alert; DryRun records them in the
	// alert without acting.
	Contain []string `json:"contain,omitempty"`
	DryRun  bool     `json:"dry_run,omitempty"`
	// LockDuration is how long lock-role locks the auth role or user
	// (default DefaultLockDuration).
	LockDuration time.Duration `json:"lock_duration,omitempty"`

	// Parsed forms.
	cidrs    []netip.Prefix
	loc      *time.Location
	from, to int // minutes of day, [from, to)
	days     uint8
}

// Rules lists every detector, in the order sys/watch/rules lists them.
var Rules = []string{RuleBruteForce, RuleBulkRead, RuleCanary, RuleListWalk, RuleOffHours,
	RulePolicyWidening, RuleProduction, RuleReadAfterRot, RuleRootToken, RuleStolenToken, RuleUnknownNetwork}

// DefaultRule is name's rule before anyone tunes it (false for an unknown
// name).
func DefaultRule(name string) (Rule, bool) {
	r := Rule{Name: name, Enabled: true}
	switch name {
	case RuleOffHours:
		r.Severity, r.MinHistory, r.LearnDays = SeverityMedium, 500, 7
	case RuleUnknownNetwork:
		r.Severity, r.MinHistory = SeverityMedium, 50
	case RuleBruteForce:
		r.Severity, r.Threshold, r.Window = SeverityHigh, 10, 5*time.Minute
	case RuleBulkRead:
		r.Severity, r.Threshold, r.Window = SeverityHigh, 50, time.Minute
	case RuleListWalk:
		r.Severity, r.Threshold, r.Window = SeverityMedium, 20, time.Minute
	case RuleProduction:
		r.Severity = SeverityLow
	case RuleRootToken:
		r.Severity = SeverityHigh
	case RuleStolenToken:
		r.Severity, r.Threshold, r.Window = SeverityCritical, 2, 10*time.Minute
	case RuleCanary:
		r.Severity = SeverityCritical
	case RulePolicyWidening:
		r.Severity = SeverityHigh
	case RuleReadAfterRot:
		r.Severity = SeverityMedium
	default:
		return Rule{}, false
	}
	if err := r.compile(); err != nil {
		panic(err) // defaults always compile
	}
	return r, true
}

var weekdayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseRule applies the fields in data (an API write) to base, returning
// the tuned rule; unknown fields and bad values are errors naming the
// field.
func ParseRule(base Rule, data map[string]any) (Rule, error) {
	if err := ruleFields.Unknown(data); err != nil {
		return Rule{}, err
	}
	r := base
	r.Weekdays = slices.Clone(base.Weekdays)
	r.AllowedCIDRs = slices.Clone(base.AllowedCIDRs)
	r.Paths = slices.Clone(base.Paths)
	r.Contain = slices.Clone(base.Contain)
	var err error
	var ok bool
	if r.Enabled, _, err = boolOr(data, "enabled", r.Enabled); err != nil {
		return Rule{}, err
	}
	if r.DryRun, _, err = boolOr(data, "dry_run", r.DryRun); err != nil {
		return Rule{}, err
	}
	if s, ok, err := logical.Str(data, "severity"); err != nil {
		return Rule{}, err
	} else if ok {
		if r.Severity, err = ParseSeverity(s); err != nil {
			return Rule{}, fmt.Errorf("severity: %w", err)
		}
	}
	for _, f := range []struct {
		name string
		into *int
	}{{"threshold", &r.Threshold}, {"min_history", &r.MinHistory}, {"learn_days", &r.LearnDays}} {
		var v int
		if v, ok, err = logical.Int(data, f.name); err != nil {
			return Rule{}, err
		} else if ok {
			if v < 0 || v > 1_000_000 {
				return Rule{}, fmt.Errorf("%s: %d is out of range (0 to 1000000)", f.name, v)
			}
			*f.into = v
		}
	}
	if d, ok, err := logical.Duration(data, "window"); err != nil {
		return Rule{}, err
	} else if ok {
		if d < time.Second || d > 7*24*time.Hour {
			return Rule{}, fmt.Errorf("window: %s is out of range (1s to 168h)", d)
		}
		r.Window = d
	}
	if d, ok, err := logical.Duration(data, "lock_duration"); err != nil {
		return Rule{}, err
	} else if ok {
		if d != 0 && (d < time.Minute || d > 30*24*time.Hour) {
			return Rule{}, fmt.Errorf("lock_duration: %s is out of range (1m to 720h, or 0 for the default %s)", d, DefaultLockDuration)
		}
		r.LockDuration = d
	}
	if s, ok, err := logical.Str(data, "business_hours"); err != nil {
		return Rule{}, err
	} else if ok {
		r.BusinessHours = strings.TrimSpace(s)
	}
	if s, ok, err := logical.Str(data, "time_zone"); err != nil {
		return Rule{}, err
	} else if ok {
		r.TimeZone = strings.TrimSpace(s)
	}
	for _, f := range []struct {
		name string
		into *[]string
	}{{"weekdays", &r.Weekdays}, {"allowed_cidrs", &r.AllowedCIDRs}, {"paths", &r.Paths}, {"contain", &r.Contain}} {
		var v []string
		if v, ok, err = logical.Strings(data, f.name); err != nil {
			return Rule{}, err
		} else if ok {
			if len(v) > 256 {
				return Rule{}, fmt.Errorf("%s: at most 256 entries", f.name)
			}
			*f.into = v
		}
	}
	if err := r.compile(); err != nil {
		return Rule{}, err
	}
	return r, nil
}

func boolOr(data map[string]any, key string, def bool) (bool, bool, error) {
	v, ok, err := logical.Bool(data, key)
	if err != nil || !ok {
		return def, ok, err
	}
	return v, true, nil
}

// compile checks the rule and fills its parsed forms.
func (r *Rule) compile() error {
	if r.Severity == 0 {
		return fmt.Errorf("severity is required")
	}
	if r.Severity > SeverityCritical {
		return fmt.Errorf("invalid severity %d", r.Severity)
	}
	switch r.Name {
	case RuleBruteForce, RuleBulkRead, RuleListWalk, RuleStolenToken:
		if r.Threshold < 1 {
			return fmt.Errorf("threshold: must be at least 1")
		}
		if r.Name == RuleStolenToken && r.Threshold < 2 {
			return fmt.Errorf("threshold: stolen-token needs at least 2 networks")
		}
		if r.Window <= 0 {
			return fmt.Errorf("window is required")
		}
	}
	r.loc = time.UTC
	if r.TimeZone != "" {
		loc, err := time.LoadLocation(r.TimeZone)
		if err != nil || strings.Contains(r.TimeZone, "..") || strings.HasPrefix(r.TimeZone, "/") {
			return fmt.Errorf("time_zone: unknown time zone %q", r.TimeZone)
		}
		r.loc = loc
	}
	r.from, r.to, r.days = 0, 0, 0
	if r.BusinessHours != "" {
		from, to, err := parseHours(r.BusinessHours)
		if err != nil {
			return fmt.Errorf("business_hours: %w", err)
		}
		r.from, r.to = from, to
		r.days = 0b0111110 // mon-fri unless weekdays says otherwise
	}
	if len(r.Weekdays) > 0 {
		r.days = 0
		for _, d := range r.Weekdays {
			i := slices.Index(weekdayNames, strings.ToLower(strings.TrimSpace(d))[:min(3, len(strings.TrimSpace(d)))])
			if i < 0 {
				return fmt.Errorf("weekdays: unknown day %q (want mon, tue, ... sun)", d)
			}
			r.days |= 1 << i
		}
		if r.BusinessHours == "" {
			r.from, r.to = 0, 24*60
		}
	}
	r.cidrs = r.cidrs[:0:0]
	for _, c := range r.AllowedCIDRs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			if a, aerr := netip.ParseAddr(strings.TrimSpace(c)); aerr == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				return fmt.Errorf("allowed_cidrs: %q is not a CIDR block", c)
			}
		}
		r.cidrs = append(r.cidrs, p.Masked())
	}
	for _, p := range r.Paths {
		if strings.Contains(strings.TrimSuffix(p, "*"), "*") || p == "" {
			return fmt.Errorf("paths: %q: * is allowed only at the end", p)
		}
	}
	for _, a := range r.Contain {
		switch a {
		case ActionRevokeToken, ActionRequireMFA, ActionSeal, ActionLockRole:
		default:
			return fmt.Errorf("contain: unknown action %q (want revoke-token, lock-role, require-mfa or seal)", a)
		}
	}
	return nil
}

// parseHours reads "HH:MM-HH:MM" (or "H-H") into minutes of day; the end
// may be 24:00, and an end before the start spans midnight.
func parseHours(s string) (from, to int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want HH:MM-HH:MM", s)
	}
	if from, err = parseClock(a); err != nil {
		return 0, 0, err
	}
	if to, err = parseClock(b); err != nil {
		return 0, 0, err
	}
	if from == to || from == 24*60 {
		return 0, 0, fmt.Errorf("%q: empty range", s)
	}
	return from, to, nil
}

func parseClock(s string) (int, error) {
	s = strings.TrimSpace(s)
	h, m, _ := strings.Cut(s, ":")
	hh, err := strconv.Atoi(h)
	if err != nil || hh < 0 || hh > 24 || len(h) > 2 {
		return 0, fmt.Errorf("%q: not a time of day", s)
	}
	mm := 0
	if m != "" {
		if mm, err = strconv.Atoi(m); err != nil || mm < 0 || mm > 59 || len(m) != 2 {
			return 0, fmt.Errorf("%q: not a time of day", s)
		}
	}
	if hh == 24 && mm != 0 {
		return 0, fmt.Errorf("%q: not a time of day", s)
	}
	return hh*60 + mm, nil
}

// inBusinessHours reports whether t falls in the configured working time
// (true when none is configured).
func (r *Rule) inBusinessHours(t time.Time) bool {
	if r.days == 0 {
		return true
	}
	lt := t.In(r.loc)
	min := lt.Hour()*60 + lt.Minute()
	day := lt.Weekday()
	if r.from < r.to {
		return r.days&(1<<day) != 0 && min >= r.from && min < r.to
	}
	// Spans midnight: the early part belongs to the previous day's shift.
	if min >= r.from {
		return r.days&(1<<day) != 0
	}
	if min < r.to {
		return r.days&(1<<((day+6)%7)) != 0
	}
	return false
}

func (r *Rule) allowed(addr netip.Addr) bool {
	for _, p := range r.cidrs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// onPaths reports whether the rule considers path (every path when Paths
// is empty).
func (r *Rule) onPaths(path string) bool {
	if len(r.Paths) == 0 {
		return true
	}
	for _, p := range r.Paths {
		if MatchPath(p, path) {
			return true
		}
	}
	return false
}

// Map is the rule as the API returns it.
func (r *Rule) Map() map[string]any {
	m := map[string]any{"name": r.Name, "enabled": r.Enabled, "severity": r.Severity.String(),
		"threshold": r.Threshold, "window": r.Window.String(), "min_history": r.MinHistory,
		"learn_days": r.LearnDays, "business_hours": r.BusinessHours, "weekdays": nonNil(r.Weekdays),
		"time_zone": r.TimeZone, "allowed_cidrs": nonNil(r.AllowedCIDRs), "paths": nonNil(r.Paths),
		"contain": nonNil(r.Contain), "dry_run": r.DryRun, "lock_duration": r.lockDuration().String()}
	if r.Window == 0 {
		m["window"] = ""
	}
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// DecodeRule reads a stored rule.
func DecodeRule(name string, data []byte) (Rule, error) {
	var r Rule
	if err := json.Unmarshal(data, &r); err != nil {
		return Rule{}, fmt.Errorf("watch: decode rule %s: %w", name, err)
	}
	if r.Name != name {
		return Rule{}, fmt.Errorf("watch: stored rule %s names %q", name, r.Name)
	}
	if err := r.compile(); err != nil {
		return Rule{}, fmt.Errorf("watch: stored rule %s: %w", name, err)
	}
	return r, nil
}

var ruleFields = logical.Fields{
	{Name: "enabled", Description: "false turns the detector off."},
	{Name: "severity", Description: "info, low, medium, high or critical."},
	{Name: "threshold", Description: "Count that raises the alert within window (brute-force, bulk-read, list-walk, stolen-token)."},
	{Name: "window", Description: "Sliding window of the count (a duration, 1s to 168h)."},
	{Name: "min_history", Description: "Requests an identity's baseline needs before learned hours and networks count."},
	{Name: "learn_days", Description: "Days the baseline must span before learned hours count (off-hours)."},
	{Name: "business_hours", Description: "Working time HH:MM-HH:MM (off-hours)."},
	{Name: "weekdays", Description: "Working days: mon, tue, wed, thu, fri, sat, sun (default mon-fri)."},
	{Name: "time_zone", Description: "IANA time zone of business_hours (default UTC)."},
	{Name: "allowed_cidrs", Description: "Networks never unknown (unknown-network); any other source alerts."},
	{Name: "paths", Description: "Path patterns: production paths (production-first-access), else the paths the rule watches."},
	{Name: "contain", Description: "Containment actions: revoke-token, lock-role, require-mfa, seal."},
	{Name: "lock_duration", Description: "How long lock-role locks the auth role or user (1m to 720h; default 1h)."},
	{Name: "dry_run", Description: "true records containment in the alert without acting."},
}
