package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Query selects entries of an audit log. Zero fields match everything.
type Query struct {
	// PathGlob matches request paths: "*" matches any run of characters
	// (slashes included), "?" one character.
	PathGlob string
	// Actor matches the display name, the accessor as written (an HMAC,
	// or the raw accessor with hmac_accessor=false) or the entity id.
	Actor string
	// Since keeps entries at or after this time.
	Since time.Time
	// Operation matches the request operation.
	Operation string
	// Denied keeps refused requests (permission denied).
	Denied bool
	// ValueHMAC keeps entries whose request or response data holds this
	// value (as returned by sys/audit-hash).
	ValueHMAC string
}

// Match reports whether e is selected. Checkpoints never are.
func (q Query) Match(e *Entry) bool {
	if e.Request == nil || (e.Type != "request" && e.Type != "response") {
		return false
	}
	if q.PathGlob != "" && !glob(q.PathGlob, e.Request.Path) {
		return false
	}
	if q.Actor != "" && (e.Auth == nil || (e.Auth.DisplayName != q.Actor && e.Auth.Accessor != q.Actor && e.Auth.EntityID != q.Actor)) {
		return false
	}
	if !q.Since.IsZero() {
		t, err := time.Parse(time.RFC3339Nano, e.Time)
		if err != nil || t.Before(q.Since) {
			return false
		}
	}
	if q.Operation != "" && e.Request.Operation != q.Operation {
		return false
	}
	if q.Denied && e.Error != "permission denied" && (e.Response == nil || e.Response.Status != 403) {
		return false
	}
	if q.ValueHMAC != "" && !holds(e.Request.Data, q.ValueHMAC) && (e.Response == nil || !holds(e.Response.Data, q.ValueHMAC)) {
		return false
	}
	return true
}

func holds(v any, want string) bool {
	switch x := v.(type) {
	case string:
		return x == want
	case map[string]any:
		for _, e := range x {
			if holds(e, want) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if holds(e, want) {
				return true
			}
		}
	}
	return false
}

// glob matches name against pattern with "*" (any run) and "?" (one rune).
// It is a search filter for `keyward audit query`, shell-like because an
// operator types it; it grants nothing, unlike the policy, jwt and cert
// globs.
func glob(pattern, name string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for pattern != "" && pattern[0] == '*' {
				pattern = pattern[1:]
			}
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if glob(pattern, name[i:]) {
					return true
				}
			}
			return false
		case '?':
			if name == "" {
				return false
			}
			_, size := firstRune(name)
			pattern, name = pattern[1:], name[size:]
		default:
			if name == "" || pattern[0] != name[0] {
				return false
			}
			pattern, name = pattern[1:], name[1:]
		}
	}
	return name == ""
}

func firstRune(s string) (rune, int) {
	for i, r := range s {
		if i > 0 {
			return r, i
		}
	}
	return 0, len(s)
}

// Scan reads the entries of r in order and calls fn for each one that q
// selects. Lines that are not entries (blank, malformed) are reported as
// errors naming the line.
func Scan(name string, r io.Reader, q Query, fn func(*Entry) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("%s:%d: not an audit entry", name, n)
		}
		if q.Match(&e) {
			if err := fn(&e); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s: line too long", name)
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// Actor is a short label for who made the request.
func (e *Entry) Actor() string {
	if e.Auth == nil {
		return "(unauthenticated)"
	}
	if e.Auth.DisplayName != "" {
		return e.Auth.DisplayName
	}
	return strings.TrimPrefix(e.Auth.Accessor, HMACPrefix)
}
