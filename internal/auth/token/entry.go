package token

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/cidr"
	"github.com/keyward/keyward/internal/sensitive"
)

// TypeService is the type of service tokens: stored, with an accessor.
const TypeService = tokenparams.TypeService

// Entry is what the store knows about one token. It is persisted through the
// barrier under a keyed hash of the token; the raw token is never stored.
//
// Entries returned by the Store are copies the caller may modify, except
// that Policies, Meta and BoundCIDRs may be shared with the store's cache and
// must be treated as read-only.
type Entry struct {
	// ID is the raw token. It is only set transiently: as Create's input for
	// a custom id and on Create's output. Its type keeps it out of every
	// format and log; it is never stored.
	ID sensitive.String `json:"-"`

	Accessor       string            `json:"accessor"`
	ParentAccessor string            `json:"parent_accessor,omitempty"`
	Policies       []string          `json:"policies"`
	Meta           map[string]string `json:"meta,omitempty"`
	DisplayName    string            `json:"display_name"`
	Path           string            `json:"path"`
	// NumUses is the number of uses left; 0 means unlimited.
	NumUses        int           `json:"num_uses,omitempty"`
	CreationTime   time.Time     `json:"creation_time"`
	TTL            time.Duration `json:"ttl"`
	ExplicitMaxTTL time.Duration `json:"explicit_max_ttl,omitempty"`
	Period         time.Duration `json:"period,omitempty"`
	// ExpireTime is when the token stops working; zero means never (root
	// tokens only).
	ExpireTime time.Time `json:"expire_time"`
	BoundCIDRs []string  `json:"bound_cidrs,omitempty"`
	Renewable  bool      `json:"renewable"`
	Orphan     bool      `json:"orphan"`
	EntityID   string    `json:"entity_id,omitempty"`
	// Alias is the caller's name at the auth method that created the token
	// (a JWT's user claim, an AppRole role): the entity alias that policy
	// templates render from.
	Alias string `json:"alias,omitempty"`
	Role  string `json:"role,omitempty"`
	Type  string `json:"type"`

	hash       [hashLen]byte  // keyed hash of the token; the storage key
	parentHash string         // hex keyed hash of the parent, "" for orphans
	maxTTL     time.Duration  // mount or auth-method cap on total lifetime, 0 = store max
	revoking   string         // "", revokeTree, revokeOrphan or revokeUsed
	prefixes   []netip.Prefix // parsed BoundCIDRs
	lastRenew  time.Time
	batchID    string // batch tokens: see OwnerID
}

// String describes the entry by accessor (OwnerID); it never prints the token.
func (e *Entry) String() string {
	if e == nil {
		return "token.Entry(nil)"
	}
	return fmt.Sprintf("token.Entry{accessor: %s, policies: %v}", e.OwnerID(), e.Policies)
}

// GoString is String, so %#v cannot print the token either.
func (e *Entry) GoString() string { return e.String() }

// LogValue logs the entry by accessor; it never logs the token.
func (e *Entry) LogValue() slog.Value {
	if e == nil {
		return slog.StringValue("nil")
	}
	return slog.GroupValue(slog.String("accessor", e.OwnerID()), slog.Any("policies", e.Policies))
}

// OwnerID is the name leases, logs and audit entries know the token by: its
// accessor, or for a batch token, which has none, "batch-" and 24 hex
// digits of a keyed hash of the token. That id is stable for the token,
// reveals nothing of it, and is neither an accessor nor a token.
func (e *Entry) OwnerID() string {
	if e.Type == TypeBatch {
		return e.batchID
	}
	return e.Accessor
}

// IsRoot reports whether the entry carries the root policy.
func (e *Entry) IsRoot() bool { return slices.Contains(e.Policies, "root") }

// usable reports whether the token may authenticate a request at now.
func (e *Entry) usable(now time.Time) bool {
	if e.revoking != "" {
		return false
	}
	return e.ExpireTime.IsZero() || now.Before(e.ExpireTime)
}

// useLimited reports whether e has a use limit, including a token whose
// last use is being served.
func (e *Entry) useLimited() bool { return e.NumUses > 0 || e.revoking == revokeUsed }

// allows reports whether a request from remoteIP may use the token.
func (e *Entry) allows(remoteIP string) bool { return cidr.Contains(e.prefixes, remoteIP) }

// clone returns a shallow copy without the raw token.
func (e *Entry) clone() *Entry {
	c := *e
	c.ID = sensitive.String{}
	return &c
}

// record is the persisted form of an Entry.
type record struct {
	Entry
	ParentHash string        `json:"parent_hash,omitempty"`
	MaxTTL     time.Duration `json:"max_ttl,omitempty"`
	Revoking   string        `json:"revoking,omitempty"`
	LastRenew  time.Time     `json:"last_renewal,omitzero"`
}

func encodeEntry(e *Entry) ([]byte, error) {
	b, err := json.Marshal(record{Entry: *e, ParentHash: e.parentHash, MaxTTL: e.maxTTL, Revoking: e.revoking, LastRenew: e.lastRenew})
	if err != nil {
		return nil, fmt.Errorf("encode token entry %s: %w", e.Accessor, err)
	}
	return b, nil
}

func decodeEntry(h [hashLen]byte, b []byte) (*Entry, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode token entry: %w", err)
	}
	e := r.Entry
	e.ID = sensitive.String{}
	e.hash = h
	e.parentHash = r.ParentHash
	e.maxTTL = r.MaxTTL
	e.revoking = r.Revoking
	e.lastRenew = r.LastRenew
	prefixes, err := tokenparams.ParseCIDRs("bound_cidrs", e.BoundCIDRs)
	if err != nil {
		return nil, fmt.Errorf("decode token entry %s: %w", e.Accessor, err)
	}
	e.prefixes = prefixes
	return &e, nil
}
