// Package logical defines the request and response that flow through the core
// pipeline, and the Backend seam every secrets engine and auth method
// implements. It holds no policy: the core alone decides whether a request is
// allowed before a Backend ever sees it.
package logical

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/sensitive"
)

// Operation is what a request does to a path.
type Operation string

// Operations, as Vault names them. Create and Update are both sent as POST/PUT;
// the core tells them apart with ExistenceChecker.
const (
	CreateOperation Operation = "create"
	ReadOperation   Operation = "read"
	UpdateOperation Operation = "update"
	PatchOperation  Operation = "patch"
	DeleteOperation Operation = "delete"
	ListOperation   Operation = "list"
	// HelpOperation is accepted for ?help=1 and answered by the core.
	HelpOperation Operation = "help"
)

// Connection describes the client's network connection.
type Connection struct {
	RemoteAddr string // IP only, no port
	TLS        *tls.ConnectionState
}

// Request is one operation on one path, after HTTP decoding and path
// normalisation. Path is relative to the mount for a Backend; the core fills
// MountPoint, MountType, MountAccessor and Storage before routing.
type Request struct {
	ID        string
	Operation Operation
	Path      string
	Data      map[string]any
	// Raw body for endpoints that need it (nil for most).
	Headers http.Header
	// Body is the unread request body of the few endpoints that stream
	// one instead of taking JSON (a snapshot restore); nil otherwise.
	Body io.Reader

	// ClientToken is the caller's token. Its type keeps it out of every
	// format and log; Reveal it only to hash or look it up.
	ClientToken sensitive.String
	// Identity of the caller, filled by the core after authentication.
	Token *TokenInfo

	Connection *Connection

	MountPoint    string // "secret/"
	MountType     string // "kv"
	MountAccessor string
	MountConfig   MountConfig

	// Storage is the backend's own view, already prefixed and encrypted.
	Storage Storage

	// WrapTTL asks for a wrapped response (X-Vault-Wrap-TTL).
	WrapTTL time.Duration
	// Unauthenticated is set for paths a Backend declares unauthenticated.
	Unauthenticated bool
}

// TokenInfo is what the core knows about the caller's token.
type TokenInfo struct {
	Accessor string
	// Policies are the token's own; IdentityPolicies those its entity
	// has now in the identity store (its own and its groups'), which the
	// core adds to them for every ACL check.
	Policies         []string
	IdentityPolicies []string
	DisplayName      string
	EntityID         string
	Metadata         map[string]string
	Root             bool
	// Path is the auth path that created the token (e.g. "auth/jwt/login").
	Path string
	// TTL remaining, for display.
	TTL time.Duration
}

// MountConfig carries the tuned settings of the mount a request is routed
// to: its lease defaults, options, and the data keys whose values the audit
// log writes readable instead of hashed (audit_non_hmac_request_keys and
// audit_non_hmac_response_keys, matched against the nearest key at any
// depth, as in Vault).
type MountConfig struct {
	DefaultLeaseTTL          time.Duration
	MaxLeaseTTL              time.Duration
	Options                  map[string]string
	AuditNonHMACRequestKeys  []string
	AuditNonHMACResponseKeys []string
}

// Response is what a Backend returns. A nil Response with a nil error is a
// 204. Status overrides the HTTP status (Vault returns 404 with data for a
// deleted KV version).
type Response struct {
	Data     map[string]any
	Secret   *Secret
	Auth     *Auth
	Warnings []string
	Status   int
	// Raw, when set, is written as the whole HTTP body with ContentType
	// instead of the envelope (PKI DER, sys/metrics text, bare sys/ JSON).
	Raw         []byte
	ContentType string
	// Headers, with Raw, are added to the HTTP response: only the ACME
	// server's Replay-Nonce, Location, Link and Retry-After pass; the HTTP
	// layer drops any other.
	Headers http.Header
	// Stream, when set, writes the whole HTTP body with ContentType after
	// the pipeline (ACL, audit) has finished, for bodies too large to hold
	// in memory (sys/storage/backup). The audit log sees no body. An error
	// it returns after writing began can only end the connection.
	Stream func(w io.Writer) error `json:"-"`
	// WrapInfo is filled by the core when the response was wrapped.
	WrapInfo *WrapInfo
	// Served, set by a versioned engine (KV v2 data reads), names the
	// version served and the current one, for the access event (never a
	// value). It is not part of the HTTP answer or the audit entry.
	Served *ServedVersion `json:"-"`
}

// ServedVersion is the version of a secret a read served and the
// secret's current version when it did.
type ServedVersion struct {
	Version, Current int
}

// Secret marks a response as a leased secret (dynamic credentials).
type Secret struct {
	LeaseID   string
	TTL       time.Duration
	MaxTTL    time.Duration
	Renewable bool
	IssueTime time.Time
	// InternalData goes back to the Backend on renew and revoke; it is never
	// returned to the client and is stored only through the barrier.
	InternalData map[string]any
}

// Auth is returned by login paths; the core turns it into a token.
type Auth struct {
	Policies        []string
	TokenPolicies   []string
	Metadata        map[string]string
	DisplayName     string
	TTL             time.Duration
	MaxTTL          time.Duration
	ExplicitMaxTTL  time.Duration
	Period          time.Duration
	NumUses         int
	Renewable       bool
	BoundCIDRs      []string
	NoDefaultPolicy bool
	EntityID        string
	// Alias identifies the caller within its auth mount (user, role, sub).
	Alias string
	// GroupAliases are the group names the auth method vouches for (a
	// JWT's groups claim): the core puts the entity in exactly the
	// external groups aliased by them on the mount.
	GroupAliases []string
	// IdentityPolicies are filled by the core at login: the policies the
	// entity has from the identity store.
	IdentityPolicies []string
	// InternalData goes back to the auth method on renew.
	InternalData map[string]any

	// Filled by the core once the token exists. ClientToken leaves the
	// process only in the login response to its owner.
	ClientToken sensitive.String
	Accessor    string
	Orphan      bool
	TokenType   string
	// MFARequirement, set by the core instead of a token, holds the login
	// until sys/mfa/validate.
	MFARequirement *MFARequirement
}

// WrapInfo describes a wrapped response.
type WrapInfo struct {
	Token           string
	Accessor        string
	TTL             time.Duration
	CreationTime    time.Time
	CreationPath    string
	WrappedAccessor string
}

// Storage is a Backend's private key/value view, already behind the barrier.
// Get returns (nil, nil) for an absent key and a non-nil slice, possibly
// empty, for a present one; the slice belongs to the caller, and Put does
// not retain value. Delete of an absent key succeeds. List has the
// semantics of storage.Backend.List. An empty key fails with
// ErrInvalidRequest, and a key longer than storage.MaxKeyLength (counted
// with the view's prefix) with storage.ErrKeyTooLong. Values may be secret:
// implementations never log them. logicaltest.RunStorage checks all of this.
type Storage interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]string, error)
}

// BatchStorage is implemented by storages that can apply several writes
// atomically. A nil Value in a BatchOp deletes the key.
type BatchStorage interface {
	Batch(ctx context.Context, ops []BatchOp) error
}

// BatchOp is one write of a batch: a nil Value deletes Key.
type BatchOp struct {
	Key   string
	Value []byte
}

// Backend is a secrets engine or auth method mounted at a path.
type Backend interface {
	HandleRequest(ctx context.Context, req *Request) (*Response, error)
}

// ExistenceChecker lets the core tell create from update for POST/PUT, so
// policies granting only one of them work as in Vault. found is false when
// the path does not support the check (the core then uses update).
type ExistenceChecker interface {
	ExistenceCheck(ctx context.Context, req *Request) (found, exists bool, err error)
}

// Unauthenticated is implemented by backends that serve some paths without a
// token (login endpoints). The returned paths are relative to the mount; a
// trailing "*" matches any suffix.
type Unauthenticated interface {
	UnauthenticatedPaths() []string
}

// SudoPaths is implemented by backends with paths that need sudo.
type SudoPaths interface {
	SudoPaths() []string
}

// MatchPath is how the core reads an UnauthenticatedPaths or SudoPaths
// list: rel (relative to the mount) matches a pattern exactly, or by prefix
// when the pattern ends in "*"; a "+" segment matches any one segment, as in
// Vault's PathsSpecial ("roles/+/acme/directory"). A trailing "/" on rel (a LIST) is ignored,
// so "leases/" needs sudo exactly as "leases" does.
func MatchPath(patterns []string, rel string) bool {
	if trimmed := strings.TrimSuffix(rel, "/"); trimmed != rel && MatchPath(patterns, trimmed) {
		return true
	}
	for _, p := range patterns {
		if strings.Contains(p, "+") {
			if matchSegments(p, rel) {
				return true
			}
			continue
		}
		if strings.HasSuffix(p, "*") {
			if strings.HasPrefix(rel, p[:len(p)-1]) {
				return true
			}
		} else if rel == p || rel == strings.TrimSuffix(p, "/") {
			return true
		}
	}
	return false
}

// matchSegments matches rel against a segment pattern: "+" is exactly
// one non-empty segment, a final "*" any remainder (possibly empty).
func matchSegments(pattern, rel string) bool {
	ps, rs := strings.Split(pattern, "/"), strings.Split(rel, "/")
	for i, p := range ps {
		if p == "*" && i == len(ps)-1 {
			return len(rs) >= i
		}
		if i >= len(rs) || p == "+" && rs[i] == "" || p != "+" && rs[i] != p {
			return false
		}
	}
	return len(rs) == len(ps)
}

// Aliaser is implemented by backends that serve one resource under more than
// one path (a legacy route and its current name). CanonicalPath returns the
// current path, relative to the mount, that req acts on, or "" when req.Path
// is canonical. The core authorizes the request against both paths, sudo
// and wrapping rules included, so a deny on the canonical path covers every
// alias of it.
type Aliaser interface {
	CanonicalPath(req *Request) string
}

// OtherNamer is implemented by backends whose resources have several names
// at once, each usable in a path (a PKI issuer is its id, its issuer_name
// and, while it is the default, "default"). OtherNames returns the
// mount-relative paths req acts on under the resource's other names, the
// path it was sent on left out; none when the resource does not exist
// (the handler answers that). req has its Storage set. The core refuses
// the request if a policy explicitly denies any of those paths; it does
// not require them to be allowed, so a policy written for one name keeps
// working for callers who use that name.
type OtherNamer interface {
	OtherNames(ctx context.Context, req *Request) ([]string, error)
}

// FieldAliaser is implemented by backends that accept a request field under
// a legacy name too ("policies" for "token_policies"). FieldAliases maps
// each legacy name to the current one. The core checks allowed_parameters
// and denied_parameters as if the value had been sent under the current
// name (see WithFieldAliases), so a constraint on it covers the alias.
type FieldAliaser interface {
	FieldAliases() map[string]string
}

// WithFieldAliases returns data with the value of every legacy field moved
// to its current name. When both names are present the current name holds
// both values (a list of each one's elements), so a constraint holds
// whichever the backend reads. data itself is not modified.
func WithFieldAliases(data map[string]any, aliases map[string]string) map[string]any {
	var out map[string]any
	for legacy, current := range aliases {
		v, ok := data[legacy]
		if !ok {
			continue
		}
		if out == nil {
			out = make(map[string]any, len(data))
			for k, dv := range data {
				out[k] = dv
			}
		}
		delete(out, legacy)
		if cur, both := data[current]; both {
			out[current] = append(elements(cur), elements(v)...)
		} else {
			out[current] = v
		}
	}
	if out == nil {
		return data
	}
	return out
}

func elements(v any) []any {
	switch t := v.(type) {
	case []any:
		return t
	case []string:
		out := make([]any, len(t))
		for i, s := range t {
			out[i] = s
		}
		return out
	}
	return []any{v}
}

// Revoker is implemented by backends that issue leased secrets.
type Revoker interface {
	Revoke(ctx context.Context, req *Request, s *Secret) error
}

// Renewer is implemented by backends whose leases can be renewed. It returns
// the secret with its new TTL.
type Renewer interface {
	Renew(ctx context.Context, req *Request, s *Secret) (*Secret, error)
}

// AuthRenewer is implemented by auth methods that must approve the renewal
// of the tokens they issued (cert auth checks the client certificate). meta
// is the token's metadata; an error refuses the renewal.
type AuthRenewer interface {
	RenewAuth(ctx context.Context, req *Request, meta map[string]string) error
}

// Cleaner is implemented by backends that hold resources (connections,
// goroutines) to release when unmounted or sealed.
type Cleaner interface {
	Cleanup(ctx context.Context)
}

// Factory builds a Backend for a new mount. conf carries mount options.
type Factory func(ctx context.Context, conf *BackendConfig) (Backend, error)

// BackendConfig is handed to a Factory.
type BackendConfig struct {
	MountPoint string
	Options    map[string]string
	// Storage is the mount's view, usable from background goroutines.
	Storage Storage
	// System gives access to core services a backend may need.
	System SystemView
}

// SystemView is the narrow part of the core that backends may call.
type SystemView interface {
	DefaultLeaseTTL() time.Duration
	MaxLeaseTTL() time.Duration
}

// Clock is implemented by a SystemView whose clock engines should use for
// the times they record (the core's, which tests set); engines find it by
// type assertion and fall back to time.Now.
type Clock interface {
	Now() time.Time
}

// Errors a Backend returns so the HTTP layer picks the right status.
var (
	ErrUnsupportedPath      = errors.New("unsupported path")
	ErrUnsupportedOperation = errors.New("unsupported operation")
	ErrPermissionDenied     = errors.New("permission denied")
	ErrInvalidRequest       = errors.New("invalid request")
	// ErrSealed: the server is sealed (HTTP 503).
	//lint:ignore ST1005 Vault's exact message: clients and scripts match on it
	ErrSealed = errors.New("Vault is sealed")
	// ErrNotInitialized: the server has not been initialized (HTTP 503... 400 in Vault for most paths).
	ErrNotInitialized = errors.New("server is not yet initialized")
)

// CodedError is an error with an HTTP status and a message safe to show to
// clients: it names fields, keys or paths, never a secret value.
type CodedError struct {
	Code int
	Msg  string
}

func (e *CodedError) Error() string { return e.Msg }

// Errorf returns a CodedError with the given status.
func Errorf(code int, format string, args ...any) error {
	return &CodedError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// BadRequest returns a 400 CodedError.
func BadRequest(format string, args ...any) error {
	return &CodedError{Code: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// RoleGrant is one auth role as who-can answers see it: the policies its
// logins get and what a login must present to get them.
type RoleGrant struct {
	Role            string
	Policies        []string
	NoDefaultPolicy bool
	// Bindings describe what binds a login to the role ("bound_claims":
	// "repository=octo/app"), never a secret.
	Bindings map[string]string
}

// RoleReporter is an auth backend that can list its roles' grants.
// storage is the mount's view.
type RoleReporter interface {
	RoleGrants(ctx context.Context, storage Storage) ([]RoleGrant, error)
}

// StoredGrants builds a RoleReporter's answer from the entries stored
// directly under prefix in s (sub-folders skipped): grant loads one entry
// by name and reports ok false for one that is gone.
func StoredGrants(ctx context.Context, s Storage, prefix string, grant func(name string) (RoleGrant, bool, error)) ([]RoleGrant, error) {
	names, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var out []RoleGrant
	for _, name := range names {
		if strings.HasSuffix(name, "/") {
			continue
		}
		g, ok, err := grant(name)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, g)
		}
	}
	return out, nil
}

// MFARequirement is what a login held for MFA answers instead of a token
// (Vault's auth.mfa_requirement): complete it at sys/mfa/validate with
// RequestID and a passcode for one method of every constraint.
type MFARequirement struct {
	RequestID string
	// Constraints maps a constraint name (a login enforcement's) to the
	// methods any one of which satisfies it.
	Constraints map[string][]MFAMethodRef
}

// MFAMethodRef names one MFA method of a constraint.
type MFAMethodRef struct {
	Type         string
	ID           string
	Name         string
	UsesPasscode bool
}
