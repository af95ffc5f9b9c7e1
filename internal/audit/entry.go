package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// HMACPrefix starts every hashed value in the log.
const HMACPrefix = "hmac-sha256:"

// Entry is one line of the audit log. Request and response entries carry
// Auth and Request; response entries add Response. Checkpoint entries carry
// only Time, Type, Checkpoint, Seq, Prev and Sig. Seq and Prev form the
// hash chain: Prev is the hex SHA-256 of the previous line (without its
// newline), "" for the first line of a chain.
type Entry struct {
	Time       string      `json:"time"`
	Type       string      `json:"type"`
	Auth       *Auth       `json:"auth,omitempty"`
	Request    *Request    `json:"request,omitempty"`
	Response   *Response   `json:"response,omitempty"`
	Error      string      `json:"error,omitempty"`
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	Seq        uint64      `json:"seq,omitempty"`
	Prev       string      `json:"prev,omitempty"`
	Sig        string      `json:"sig,omitempty"`
}

// Auth is the caller's identity. Accessor is hashed unless the device
// runs with hmac_accessor=false; metadata (CI claims such as repository and
// ref) stays readable.
type Auth struct {
	Accessor    string            `json:"accessor,omitempty"`
	DisplayName string            `json:"display_name,omitempty"`
	Policies    []string          `json:"policies,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	EntityID    string            `json:"entity_id,omitempty"`
}

// Request describes the request. ClientToken is always an HMAC.
type Request struct {
	ID             string         `json:"id,omitempty"`
	Operation      string         `json:"operation"`
	Path           string         `json:"path"`
	MountType      string         `json:"mount_type,omitempty"`
	MountAccessor  string         `json:"mount_accessor,omitempty"`
	RemoteAddress  string         `json:"remote_address,omitempty"`
	XForwardedFor  []string       `json:"x_forwarded_for,omitempty"`
	ClientToken    string         `json:"client_token,omitempty"`
	WrapTTL        int64          `json:"wrap_ttl,omitempty"`
	Data           map[string]any `json:"data,omitempty"`
	Unauthenticate bool           `json:"unauthenticated,omitempty"`
}

// Response describes the outcome: Status is the HTTP status the client gets
// (before any audit failure).
type Response struct {
	Status   int            `json:"status"`
	Data     map[string]any `json:"data,omitempty"`
	Raw      string         `json:"raw,omitempty"`
	Secret   *Secret        `json:"secret,omitempty"`
	Auth     *RespAuth      `json:"auth,omitempty"`
	WrapInfo *WrapInfo      `json:"wrap_info,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
}

// Secret is a leased secret's lease (lease ids are not secret).
type Secret struct {
	LeaseID   string `json:"lease_id,omitempty"`
	TTL       int64  `json:"ttl"`
	Renewable bool   `json:"renewable,omitempty"`
}

// RespAuth is a login response's token: ClientToken is always an HMAC.
type RespAuth struct {
	ClientToken string            `json:"client_token,omitempty"`
	Accessor    string            `json:"accessor,omitempty"`
	DisplayName string            `json:"display_name,omitempty"`
	Policies    []string          `json:"policies,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	EntityID    string            `json:"entity_id,omitempty"`
	TTL         int64             `json:"ttl,omitempty"`
}

// WrapInfo describes a wrapped response: Token is always an HMAC.
type WrapInfo struct {
	Token           string `json:"token,omitempty"`
	Accessor        string `json:"accessor,omitempty"`
	TTL             int64  `json:"ttl"`
	CreationPath    string `json:"creation_path,omitempty"`
	WrappedAccessor string `json:"wrapped_accessor,omitempty"`
}

// Checkpoint marks a signed entry. Reason is "interval", "close" or "open".
// An open checkpoint heads every file a device creates (and every socket
// or syslog connection that continues an earlier chain) and names the
// device in Device: the server writes to an existing file only if it
// starts with its device's open checkpoint (see dir.go).
type Checkpoint struct {
	Reason string `json:"reason"`
	Device string `json:"device,omitempty"`
}

// hasher computes the HMACs of one device. It is safe for concurrent use.
type hasher struct {
	raw  bool // log_raw: values are written unchanged
	pool sync.Pool
}

// hmacState is a reusable HMAC (Reset restores the keyed state without
// rehashing the key) with a scratch buffer for the value.
type hmacState struct {
	m       hash.Hash
	scratch []byte
}

func newHasher(key []byte, raw bool) *hasher {
	h := &hasher{raw: raw}
	h.pool.New = func() any { return &hmacState{m: hmac.New(sha256.New, key)} }
	return h
}

// Hash returns "hmac-sha256:<hex>" of s, whatever the raw setting (it serves
// sys/audit-hash).
func (h *hasher) Hash(s string) string {
	out := make([]byte, 0, len(HMACPrefix)+2*sha256.Size+2)
	out = h.appendHash(out, s)
	return string(out[1 : len(out)-1])
}

// entryOptions are the per-device settings that shape an entry.
type entryOptions struct {
	hmacAccessor       bool
	elideListResponses bool
}
