package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // time zones resolve the same on every machine

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"
)

// Condition is one condition block of a path rule. Every field that is set
// must hold for the block to hold (AND); a rule with several blocks grants
// its capabilities when any block holds (OR). The zero value is rejected by
// Parse: a block must set at least one field.
type Condition struct {
	// SourceCIDRs: the request's remote address is in one of these
	// (canonical prefix text, e.g. "10.0.0.0/8", "2001:db8::/32").
	SourceCIDRs []string
	// TimeWindow: the request time falls in the window.
	TimeWindow *TimeWindow
	// MFAMaxAge: the caller passed MFA at most this long ago.
	MFAMaxAge time.Duration
	// EntityIDs: the caller's entity id is one of these.
	EntityIDs []string
	// GroupNames: the caller is a member of one of these groups.
	GroupNames []string
	// Claims maps a claim (token metadata key) to the values it may have;
	// each key must be present with a matching value. Values may start or
	// end with "*" as globs, like parameter values.
	Claims map[string][]string
	// MaxTokenTTL: the caller's token was issued with a TTL of at most this.
	MaxTokenTTL time.Duration
	// EnvironmentMatch: the caller's environment equals the environment
	// of the requested path, and both are known.
	EnvironmentMatch bool
	// Environments: the caller's environment is one of these.
	Environments []string
}

// TimeWindow is a daily window of local wall-clock time. Start is
// inclusive, End exclusive ("HH:MM", 24-hour); Start after End crosses
// midnight, and such a window belongs to the weekday it starts on. Both
// empty means the whole day. Weekdays are three-letter lower-case names
// ("mon"…"sun"); empty means every day. TimeZone is an IANA name; empty
// means UTC.
type TimeWindow struct {
	Start, End string
	TimeZone   string
	Weekdays   []string
}

// RequestContext is what conditions are evaluated against. The core fills
// it per request; a zero field means "unknown", and a condition that needs
// an unknown field does not hold (deny when a condition cannot be
// evaluated). The ACL never keeps it or its maps and slices.
type RequestContext struct {
	// RemoteAddr is the client address the request came from.
	RemoteAddr netip.Addr
	// Time is the request time (the core's clock).
	Time time.Time
	// TokenTTL is the TTL the caller's token was issued with; 0 when the
	// token does not expire.
	TokenTTL time.Duration
	// Claims are the caller's verified login claims (token metadata set by
	// the auth method at login).
	Claims map[string]string
	// Environment is the caller's environment from its login.
	Environment string
	// PathEnvironment is the environment label of the requested path.
	PathEnvironment string
	// EntityID and GroupNames come from the identity store.
	EntityID   string
	GroupNames []string
	// MFATime is when the caller last passed MFA; zero when never.
	MFATime time.Time
}

// Condition failure reasons returned by evaluation, one per field.
const (
	condSourceCIDRs      = "source_cidrs"
	condTimeWindow       = "time_window"
	condMFAMaxAge        = "mfa_max_age"
	condEntityIDs        = "entity_ids"
	condGroupNames       = "group_names"
	condClaims           = "claims"
	condMaxTokenTTL      = "max_token_ttl"
	condEnvironmentMatch = "environment_match"
	condEnvironments     = "environments"
)

var weekdayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// condition is a compiled Condition.
type condition struct {
	src       *Condition
	cidrs     []netip.Prefix
	window    bool
	loc       *time.Location
	start     int // minutes after midnight
	end       int
	days      uint8 // bit per time.Weekday; 0x7f = every day
	mfaMaxAge time.Duration
	entityIDs []string
	groups    []string
	claimKeys []string
	claimVals [][]string
	maxTTL    time.Duration
	envMatch  bool
	envs      []string
}

var zoneCache sync.Map // zone name -> *time.Location

func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	if l, ok := zoneCache.Load(name); ok {
		return l.(*time.Location), nil
	}
	if strings.Contains(name, "..") || strings.HasPrefix(name, "/") || name == "Local" {
		return nil, fmt.Errorf("unknown time zone %s", quoteShort(name))
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %s", quoteShort(name))
	}
	zoneCache.Store(name, l)
	return l, nil
}

func parseClock(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("time %s must be HH:MM", quoteShort(s))
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("time %s must be HH:MM", quoteShort(s))
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h == 24 && m == 0 {
		return 24 * 60, nil
	}
	if h > 23 || m > 59 {
		return 0, fmt.Errorf("time %s out of range", quoteShort(s))
	}
	return h*60 + m, nil
}

// compileCondition validates c and compiles it.
func compileCondition(c *Condition) (*condition, error) {
	cc := &condition{src: c, mfaMaxAge: c.MFAMaxAge, entityIDs: c.EntityIDs, groups: c.GroupNames,
		maxTTL: c.MaxTokenTTL, envMatch: c.EnvironmentMatch, envs: c.Environments}
	for _, s := range c.SourceCIDRs {
		p, err := parseCIDR(s)
		if err != nil {
			return nil, err
		}
		cc.cidrs = append(cc.cidrs, p)
	}
	if w := c.TimeWindow; w != nil {
		cc.window = true
		loc, err := loadZone(w.TimeZone)
		if err != nil {
			return nil, err
		}
		cc.loc = loc
		switch {
		case w.Start == "" && w.End == "":
			cc.start, cc.end = 0, 24*60
		case w.Start == "" || w.End == "":
			return nil, fmt.Errorf("time_window needs both start and end, or neither")
		default:
			if cc.start, err = parseClock(w.Start); err != nil {
				return nil, err
			}
			if cc.end, err = parseClock(w.End); err != nil {
				return nil, err
			}
			if cc.start == 24*60 {
				return nil, fmt.Errorf("time_window start cannot be 24:00")
			}
			if cc.start == cc.end {
				return nil, fmt.Errorf("time_window start equals end: omit both for the whole day")
			}
		}
		if len(w.Weekdays) == 0 {
			cc.days = 0x7f
		}
		for _, d := range w.Weekdays {
			i := slices.Index(weekdayNames[:], d)
			if i < 0 {
				return nil, fmt.Errorf("unknown weekday %s (use mon, tue, wed, thu, fri, sat, sun)", quoteShort(d))
			}
			cc.days |= 1 << i
		}
	}
	for _, k := range sortedKeys(c.Claims) {
		cc.claimKeys = append(cc.claimKeys, k)
		cc.claimVals = append(cc.claimVals, c.Claims[k])
	}
	if len(cc.cidrs) == 0 && !cc.window && cc.mfaMaxAge == 0 && len(cc.entityIDs) == 0 && len(cc.groups) == 0 &&
		len(cc.claimKeys) == 0 && cc.maxTTL == 0 && !cc.envMatch && len(cc.envs) == 0 {
		return nil, fmt.Errorf("condition block sets nothing")
	}
	return cc, nil
}

func parseCIDR(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("source_cidrs: malformed address %s", quoteShort(s))
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("source_cidrs: malformed CIDR %s", quoteShort(s))
	}
	if p.Addr().Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, fmt.Errorf("source_cidrs: malformed CIDR %s", quoteShort(s))
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), bits)
	}
	return p.Masked(), nil
}

// eval reports whether the condition holds for rc, and otherwise the name
// of the first field that does not. It does not allocate.
func (c *condition) eval(rc *RequestContext) (bool, string) {
	if rc == nil {
		return false, "no request context"
	}
	if len(c.cidrs) > 0 {
		addr := rc.RemoteAddr.Unmap()
		ok := false
		if addr.IsValid() {
			for _, p := range c.cidrs {
				if p.Contains(addr) {
					ok = true
					break
				}
			}
		}
		if !ok {
			return false, condSourceCIDRs
		}
	}
	if c.window && !c.inWindow(rc.Time) {
		return false, condTimeWindow
	}
	if c.mfaMaxAge > 0 {
		if rc.MFATime.IsZero() || rc.Time.IsZero() {
			return false, condMFAMaxAge
		}
		if age := rc.Time.Sub(rc.MFATime); age < 0 || age > c.mfaMaxAge {
			return false, condMFAMaxAge
		}
	}
	if len(c.entityIDs) > 0 && (rc.EntityID == "" || !slices.Contains(c.entityIDs, rc.EntityID)) {
		return false, condEntityIDs
	}
	if len(c.groups) > 0 {
		ok := false
		for _, g := range rc.GroupNames {
			if g != "" && slices.Contains(c.groups, g) {
				ok = true
				break
			}
		}
		if !ok {
			return false, condGroupNames
		}
	}
	for i, k := range c.claimKeys {
		v, ok := rc.Claims[k]
		if !ok || !claimMatch(v, c.claimVals[i]) {
			return false, condClaims
		}
	}
	if c.maxTTL > 0 && (rc.TokenTTL <= 0 || rc.TokenTTL > c.maxTTL) {
		return false, condMaxTokenTTL
	}
	if c.envMatch && (rc.Environment == "" || rc.PathEnvironment == "" || rc.Environment != rc.PathEnvironment) {
		return false, condEnvironmentMatch
	}
	if len(c.envs) > 0 && (rc.Environment == "" || !slices.Contains(c.envs, rc.Environment)) {
		return false, condEnvironments
	}
	return true, ""
}

func claimMatch(v string, vals []string) bool {
	for _, p := range vals {
		if globMatch(p, v) {
			return true
		}
	}
	return false
}

// inWindow reports whether t falls in the window, by the local wall clock
// of the window's zone: across DST changes a window of 02:00–03:00 simply
// does not occur on a spring-forward night and covers both passes of a
// repeated hour on a fall-back night.
func (c *condition) inWindow(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	lt := t.In(c.loc)
	m := lt.Hour()*60 + lt.Minute()
	day := lt.Weekday()
	switch {
	case c.start < c.end:
		if m < c.start || m >= c.end {
			return false
		}
	case m >= c.start:
		// Evening part of a window crossing midnight: today's window.
	case m < c.end:
		day = (day + 6) % 7 // morning part: the window began yesterday
	default:
		return false
	}
	return c.days&(1<<day) != 0
}

// explainFailure describes why field failed for rc, naming values the
// caller sent (addresses, times, environments), never secrets.
func (c *condition) explainFailure(field string, rc *RequestContext) string {
	if rc == nil {
		return "no request context to evaluate the condition against"
	}
	switch field {
	case condSourceCIDRs:
		if !rc.RemoteAddr.IsValid() {
			return "source_cidrs: remote address unknown"
		}
		return fmt.Sprintf("source_cidrs: %s is not in %s", rc.RemoteAddr.Unmap(), strings.Join(c.src.SourceCIDRs, ", "))
	case condTimeWindow:
		if rc.Time.IsZero() {
			return "time_window: request time unknown"
		}
		w := c.src.TimeWindow
		zone := w.TimeZone
		if zone == "" {
			zone = "UTC"
		}
		days := "every day"
		if len(w.Weekdays) > 0 {
			days = strings.Join(w.Weekdays, ",")
		}
		span := "all day"
		if w.Start != "" {
			span = w.Start + "-" + w.End
		}
		return fmt.Sprintf("time_window: %s is outside %s %s %s", rc.Time.In(c.loc).Format("Mon 15:04"), span, zone, days)
	case condMFAMaxAge:
		if rc.MFATime.IsZero() {
			return "mfa_max_age: no MFA on record for this caller"
		}
		return fmt.Sprintf("mfa_max_age: last MFA %s ago, more than %s", rc.Time.Sub(rc.MFATime).Round(time.Second), c.mfaMaxAge)
	case condEntityIDs:
		if rc.EntityID == "" {
			return "entity_ids: caller has no entity"
		}
		return fmt.Sprintf("entity_ids: entity %s is not listed", rc.EntityID)
	case condGroupNames:
		if len(rc.GroupNames) == 0 {
			return "group_names: caller is in no group"
		}
		return fmt.Sprintf("group_names: caller is in none of %s", strings.Join(c.groups, ", "))
	case condClaims:
		for i, k := range c.claimKeys {
			v, ok := rc.Claims[k]
			if !ok {
				return fmt.Sprintf("claims: %s missing", quoteShort(k))
			}
			if !claimMatch(v, c.claimVals[i]) {
				return fmt.Sprintf("claims: %s is %s, not one of %s", quoteShort(k), quoteShort(v), strings.Join(c.claimVals[i], ", "))
			}
		}
	case condMaxTokenTTL:
		if rc.TokenTTL <= 0 {
			return fmt.Sprintf("max_token_ttl: token does not expire, limit %s", c.maxTTL)
		}
		return fmt.Sprintf("max_token_ttl: token TTL %s is above %s", rc.TokenTTL, c.maxTTL)
	case condEnvironmentMatch:
		return fmt.Sprintf("environment_match: caller environment %s, path environment %s", envText(rc.Environment), envText(rc.PathEnvironment))
	case condEnvironments:
		return fmt.Sprintf("environments: caller environment %s is not one of %s", envText(rc.Environment), strings.Join(c.envs, ", "))
	}
	return field
}

func envText(e string) string {
	if e == "" {
		return "(none)"
	}
	return quoteShort(e)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// parseConditions parses the value of a "condition" key: one block, or a
// list of blocks (JSON, or HCL's repeated blocks gathered by the caller).
func parseConditions(val ast.Node) ([]Condition, error) {
	switch v := val.(type) {
	case *ast.ObjectType:
		c, err := parseCondition(v)
		if err != nil {
			return nil, err
		}
		return []Condition{c}, nil
	case *ast.ListType:
		var out []Condition
		for _, n := range v.List {
			obj, ok := n.(*ast.ObjectType)
			if !ok {
				return nil, errAt(n.Pos(), "condition must be a block")
			}
			c, err := parseCondition(obj)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	}
	return nil, errAt(val.Pos(), "condition must be a block")
}

func parseCondition(obj *ast.ObjectType) (Condition, error) {
	var c Condition
	seen := map[string]bool{}
	for _, item := range obj.List.Items {
		key, val := splitItem(item)
		if seen[key] {
			return c, errAt(item.Pos(), "duplicate key %s in condition", quoteShort(key))
		}
		seen[key] = true
		var err error
		switch key {
		case "source_cidrs":
			var list []string
			if list, err = parseStringList(val); err == nil {
				for _, s := range list {
					p, perr := parseCIDR(s)
					if perr != nil {
						return c, errAt(val.Pos(), "%v", perr)
					}
					c.SourceCIDRs = append(c.SourceCIDRs, p.String())
				}
			}
		case "time_window":
			c.TimeWindow, err = parseTimeWindow(val)
		case "mfa_max_age":
			c.MFAMaxAge, err = parseTTL(val)
		case "entity_ids":
			c.EntityIDs, err = parseNonEmptyStrings(val)
		case "group_names":
			c.GroupNames, err = parseNonEmptyStrings(val)
		case "claims":
			c.Claims, err = parseClaims(val)
		case "max_token_ttl":
			c.MaxTokenTTL, err = parseTTL(val)
		case "environment_match":
			c.EnvironmentMatch, err = parseBool(val)
		case "environments":
			c.Environments, err = parseNonEmptyStrings(val)
		default:
			return c, errAt(item.Pos(), "unknown key %s in condition", quoteShort(key))
		}
		if err != nil {
			return c, asParseError(err, item.Pos(), key)
		}
	}
	if _, err := compileCondition(&c); err != nil {
		return c, errAt(obj.Pos(), "condition: %v", err)
	}
	return c, nil
}

func asParseError(err error, pos token.Pos, key string) *ParseError {
	if pe, ok := err.(*ParseError); ok {
		return pe
	}
	return errAt(pos, "%s: %v", key, err)
}

func parseNonEmptyStrings(val ast.Node) ([]string, error) {
	list, err := parseStringList(val)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, errAt(val.Pos(), "list must not be empty")
	}
	for _, s := range list {
		if s == "" {
			return nil, errAt(val.Pos(), "empty string in list")
		}
	}
	return list, nil
}

func parseBool(val ast.Node) (bool, error) {
	lit, ok := val.(*ast.LiteralType)
	if !ok || lit.Token.Type != token.BOOL {
		return false, errAt(val.Pos(), "expected true or false")
	}
	return lit.Token.Text == "true", nil
}

func parseClaims(val ast.Node) (map[string][]string, error) {
	obj, ok := val.(*ast.ObjectType)
	if !ok {
		return nil, errAt(val.Pos(), "claims must be a map of claim name to list of values")
	}
	out := map[string][]string{}
	for _, item := range obj.List.Items {
		key, v := splitItem(item)
		if err := checkText(key); err != nil || key == "" {
			return nil, errAt(item.Pos(), "malformed claim name")
		}
		if _, dup := out[key]; dup {
			return nil, errAt(item.Pos(), "duplicate claim %s", quoteShort(key))
		}
		vals, err := parseValueList(v)
		if err != nil {
			return nil, err
		}
		if len(vals) == 0 {
			return nil, errAt(item.Pos(), "claim %s needs at least one value", quoteShort(key))
		}
		out[key] = vals
	}
	if len(out) == 0 {
		return nil, errAt(val.Pos(), "claims must not be empty")
	}
	return out, nil
}

func parseTimeWindow(val ast.Node) (*TimeWindow, error) {
	obj, ok := val.(*ast.ObjectType)
	if !ok {
		return nil, errAt(val.Pos(), "time_window must be a block")
	}
	w := &TimeWindow{}
	seen := map[string]bool{}
	for _, item := range obj.List.Items {
		key, v := splitItem(item)
		if seen[key] {
			return nil, errAt(item.Pos(), "duplicate key %s in time_window", quoteShort(key))
		}
		seen[key] = true
		var err error
		switch key {
		case "start":
			w.Start, err = parseString(v)
		case "end":
			w.End, err = parseString(v)
		case "time_zone":
			w.TimeZone, err = parseString(v)
		case "weekdays":
			var days []string
			if days, err = parseStringList(v); err == nil {
				for _, d := range days {
					d = strings.ToLower(d)
					if !slices.Contains(w.Weekdays, d) {
						w.Weekdays = append(w.Weekdays, d)
					}
				}
			}
		default:
			return nil, errAt(item.Pos(), "unknown key %s in time_window", quoteShort(key))
		}
		if err != nil {
			return nil, asParseError(err, item.Pos(), key)
		}
	}
	return w, nil
}

// formatConditions writes rule conditions in canonical HCL.
func formatConditions(b *strings.Builder, conds []Condition) {
	for _, c := range conds {
		b.WriteString("  condition {\n")
		if len(c.SourceCIDRs) > 0 {
			b.WriteString("    source_cidrs = ")
			writeList(b, c.SourceCIDRs)
			b.WriteByte('\n')
		}
		if w := c.TimeWindow; w != nil {
			b.WriteString("    time_window {\n")
			if w.Start != "" {
				b.WriteString("      start = " + hclQuote(w.Start) + "\n")
			}
			if w.End != "" {
				b.WriteString("      end = " + hclQuote(w.End) + "\n")
			}
			if w.TimeZone != "" {
				b.WriteString("      time_zone = " + hclQuote(w.TimeZone) + "\n")
			}
			if len(w.Weekdays) > 0 {
				b.WriteString("      weekdays = ")
				writeList(b, w.Weekdays)
				b.WriteByte('\n')
			}
			b.WriteString("    }\n")
		}
		if c.MFAMaxAge > 0 {
			b.WriteString("    mfa_max_age = " + hclQuote(c.MFAMaxAge.String()) + "\n")
		}
		writeCondList(b, "entity_ids", c.EntityIDs)
		writeCondList(b, "group_names", c.GroupNames)
		if len(c.Claims) > 0 {
			b.WriteString("    claims = {\n")
			for _, k := range sortedKeys(c.Claims) {
				b.WriteString("      " + hclQuote(k) + " = ")
				writeList(b, c.Claims[k])
				b.WriteByte('\n')
			}
			b.WriteString("    }\n")
		}
		if c.MaxTokenTTL > 0 {
			b.WriteString("    max_token_ttl = " + hclQuote(c.MaxTokenTTL.String()) + "\n")
		}
		if c.EnvironmentMatch {
			b.WriteString("    environment_match = true\n")
		}
		writeCondList(b, "environments", c.Environments)
		b.WriteString("  }\n")
	}
}

func writeCondList(b *strings.Builder, key string, list []string) {
	if len(list) == 0 {
		return
	}
	b.WriteString("    " + key + " = ")
	writeList(b, list)
	b.WriteByte('\n')
}
