package watch

import (
	"strings"
	"time"
)

// Result is the outcome class of a request.
type Result string

// Results: ok for a 2xx or 3xx answer, denied for 401 and 403, error for
// everything else (404 included, so enumeration shows as failures).
const (
	ResultOK     Result = "ok"
	ResultDenied Result = "denied"
	ResultError  Result = "error"
)

// Event types.
const (
	// TypeRequest is any request that is not a login.
	TypeRequest = "request"
	// TypeLogin is a request to an auth method's unauthenticated login path.
	TypeLogin = "login"
)

// ClaimKeys are the token metadata keys copied into Identity.Claims: the
// CI claims an auth role's claim_mappings usually produce (jwt auth) and
// the role names auth methods set. No other metadata enters an event.
var ClaimKeys = []string{
	"repository", "repository_owner", "ref", "ref_type", "environment", "workflow",
	"job_workflow_ref", "actor", "event_name", "sha", "run_id", "project_path",
	"pipeline_source", "namespace_path",
}

// Identity is who made the request. Every field is an identifier, never a
// credential: a token appears only as its accessor.
type Identity struct {
	EntityID string `json:"entity_id,omitempty"`
	Accessor string `json:"accessor,omitempty"`
	// AuthMount and AuthType are the auth method that issued the token
	// ("auth/jwt/", "jwt"); for the token store "auth/token/", "token".
	AuthMount   string            `json:"auth_mount,omitempty"`
	AuthType    string            `json:"auth_type,omitempty"`
	Role        string            `json:"role,omitempty"`
	DisplayName string            `json:"display_name,omitempty"`
	Root        bool              `json:"root,omitempty"`
	Claims      map[string]string `json:"claims,omitempty"`
}

// Key is the identity's baseline key: the entity when there is one, else
// the auth role, else the issuing mount and display name. It is "" for an
// anonymous request (no token, no login result), which has no baseline.
func (id *Identity) Key() string {
	switch {
	case id.EntityID != "":
		return "entity:" + id.EntityID
	case id.Role != "":
		return "role:" + id.AuthMount + id.Role
	case id.Accessor != "":
		return "name:" + id.AuthMount + id.DisplayName
	}
	return ""
}

// Event is one request outcome. Its fields are the whole allowlist: the
// core copies these and nothing else from a request and its response.
type Event struct {
	// Seq numbers events from 1 within one Hub (it restarts with the
	// process); subscribers use it as the SSE id.
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	Type       string    `json:"type"`
	RequestID  string    `json:"request_id,omitempty"`
	Identity   Identity  `json:"identity"`
	Operation  string    `json:"operation"`
	Mount      string    `json:"mount,omitempty"`
	MountType  string    `json:"mount_type,omitempty"`
	Path       string    `json:"path"`
	RemoteAddr string    `json:"remote_addr,omitempty"`
	Result     Result    `json:"result"`
	Status     int       `json:"status"`
	LeaseIDs   []string  `json:"lease_ids,omitempty"`
	// Version is the KV v2 version a data read served and CurrentVersion
	// the secret's current version then (0 for anything else).
	Version        int `json:"version,omitempty"`
	CurrentVersion int `json:"current_version,omitempty"`
}

// ResultOf classifies an HTTP status.
func ResultOf(status int) Result {
	switch {
	case status == 401 || status == 403:
		return ResultDenied
	case status >= 200 && status < 400:
		return ResultOK
	}
	return ResultError
}

// Filter selects events for a subscriber. Zero fields match everything.
type Filter struct {
	// Paths are path patterns (see MatchPath); an event matches if any does.
	Paths []string
	// Types are event types (request, login); an event matches if any is its.
	Types []string
}

// Match reports whether e passes f.
func (f *Filter) Match(e *Event) bool {
	if len(f.Types) > 0 {
		ok := false
		for _, t := range f.Types {
			if t == e.Type {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(f.Paths) == 0 {
		return true
	}
	for _, p := range f.Paths {
		if MatchPath(p, e.Path) {
			return true
		}
	}
	return false
}

// MatchPath reports whether path matches pattern, read as in ACL
// policies: a "+" segment matches any one segment, a final "*" matches any
// suffix (so "secret/*" is a prefix match), and anything else is literal.
func MatchPath(pattern, path string) bool {
	prefix := strings.HasSuffix(pattern, "*")
	if prefix {
		pattern = pattern[:len(pattern)-1]
	}
	for {
		seg, rest, more := strings.Cut(pattern, "/")
		if !more {
			// Last pattern segment: a literal prefix (or whole) of the rest.
			if seg == "+" {
				if prefix {
					return true
				}
				return !strings.Contains(path, "/")
			}
			if prefix {
				return strings.HasPrefix(path, seg)
			}
			return path == seg
		}
		pseg, prest, pmore := strings.Cut(path, "/")
		if !pmore {
			return false
		}
		if seg != "+" && seg != pseg {
			return false
		}
		pattern, path = rest, prest
	}
}
