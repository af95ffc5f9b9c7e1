package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Params are a report request's query parameters, parsed and checked.
type Params struct {
	// Format is "json" (default) or "csv".
	Format string
	// Days is the unread report's window (default 90, 1 to 36500).
	Days int
	// Within is the leases report's horizon (default 24h, up to 10 years).
	Within time.Duration
	// Since and Until bound the access map (defaults: the index's
	// beginning and now).
	Since, Until time.Time
	// Prefix keeps only secrets whose path starts with it.
	Prefix string
}

// Limits of the parameters.
const (
	DefaultDays   = 90
	maxDays       = 36500
	DefaultWithin = 24 * time.Hour
	maxWithin     = 10 * 365 * 24 * time.Hour
	maxPrefix     = 1024
)

// paramNames are the parameters each report takes (format and prefix are
// taken by all).
var paramNames = map[string][]string{
	"unread":          {"days"},
	"leases-near-max": {"within"},
	"access-map":      {"since", "until"},
}

// ParseParams reads the parameters of report name from data (a query
// string or body, as logical hands them over), with now for relative
// times. Errors name the parameter, never echo a long value, and are
// meant for a 400.
func ParseParams(name string, data map[string]any, now time.Time) (Params, error) {
	p := Params{Format: "json", Days: DefaultDays, Within: DefaultWithin, Until: now}
	allowed := append([]string{"format", "prefix"}, paramNames[name]...)
	if err := logical.UnknownFields(data, allowed...); err != nil {
		return Params{}, err
	}
	if v, ok, err := logical.Str(data, "format"); err != nil {
		return Params{}, err
	} else if ok && v != "" {
		switch v = strings.ToLower(strings.TrimSpace(v)); v {
		case "json", "csv":
			p.Format = v
		default:
			return Params{}, fmt.Errorf("format: want json or csv")
		}
	}
	if v, ok, err := logical.Str(data, "prefix"); err != nil {
		return Params{}, err
	} else if ok {
		if len(v) > maxPrefix || strings.ContainsFunc(v, isControl) {
			return Params{}, fmt.Errorf("prefix: at most %d printable characters", maxPrefix)
		}
		p.Prefix = strings.TrimPrefix(v, "/")
	}
	if raw, ok := data["days"]; ok {
		s := strings.TrimSpace(fmt.Sprint(raw))
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxDays {
			return Params{}, fmt.Errorf("days: want a whole number from 1 to %d", maxDays)
		}
		p.Days = n
	}
	if raw, ok := data["within"]; ok {
		d, err := logical.ParseDuration(raw)
		if err != nil || d <= 0 || d > maxWithin {
			return Params{}, fmt.Errorf("within: want a duration such as 24h or 7d, up to 10 years")
		}
		p.Within = d
	}
	var err error
	if raw, ok := data["since"]; ok {
		if p.Since, err = parseTime("since", raw, now); err != nil {
			return Params{}, err
		}
	}
	if raw, ok := data["until"]; ok {
		if p.Until, err = parseTime("until", raw, now); err != nil {
			return Params{}, err
		}
	}
	if !p.Since.IsZero() && p.Until.Before(p.Since) {
		return Params{}, fmt.Errorf("until is before since")
	}
	return p, nil
}

// parseTime reads an RFC 3339 time, or a duration before now ("24h",
// "7d").
func parseTime(name string, raw any, now time.Time) (time.Time, error) {
	s, ok := raw.(string)
	if !ok {
		s = fmt.Sprint(raw)
	}
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if t.Year() < 1970 || t.Year() > 9999 {
			return time.Time{}, fmt.Errorf("%s: out of range", name)
		}
		return t.UTC(), nil
	}
	if s != "" && !strings.HasPrefix(s, "-") {
		if d, err := logical.ParseDuration(s); err == nil && d > 0 && d <= maxWithin*10 {
			return now.Add(-d), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s: want an RFC 3339 time or a duration before now such as 24h or 7d", name)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
