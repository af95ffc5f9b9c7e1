package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"strconv"
	"sync"
	"time"
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

// str hashes s unless the device logs raw values; "" stays "".
func (h *hasher) str(s string) string {
	if s == "" || h.raw {
		return s
	}
	return h.Hash(s)
}

// strAs is str, or s readable and bounded when clear (see appendStrAs).
func (h *hasher) strAs(s string, clear bool) string {
	if clear && !h.raw {
		return bounded(s, maxField)
	}
	return h.str(s)
}

// data returns a copy of m with every string and number replaced by its
// HMAC, recursively, except values whose nearest key is in plain (a
// mount's audit_non_hmac_*_keys). Keys stay readable, bounded (see
// bound.go).
func (h *hasher) data(m map[string]any, plain []string) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[bounded(k, maxField)] = h.value(v, plain, isPlain(plain, k))
	}
	return out
}

// value is data for one value; clear says its nearest key is in plain.
func (h *hasher) value(v any, plain []string, clear bool) any {
	switch x := v.(type) {
	case nil, bool:
		return x
	case string:
		return h.strAs(x, clear)
	case json.Number, float64, int, int64:
		if clear && !h.raw {
			if n, ok := x.(json.Number); ok && len(n) > maxField {
				return bounded(string(n), maxField)
			}
			return x // a readable number stays a number
		}
		switch n := x.(type) {
		case json.Number:
			return h.str(n.String())
		case float64:
			return h.str(strconv.FormatFloat(n, 'f', -1, 64))
		case int:
			return h.str(strconv.Itoa(n))
		default:
			return h.str(strconv.FormatInt(n.(int64), 10))
		}
	case []byte:
		return h.strAs(string(x), clear)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano) // timestamps are not secret
	case map[string]any:
		return h.data(x, plain)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = h.value(e, plain, clear)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = h.strAs(e, clear)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[bounded(k, maxField)] = h.strAs(e, isPlain(plain, k))
		}
		return out
	}
	// Any other type (structs, typed slices): go through its JSON form so
	// nothing escapes hashing.
	raw, err := json.Marshal(v)
	if err != nil {
		return h.str(fmt.Sprintf("unencodable %T", v))
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return h.strAs(string(raw), clear)
	}
	return h.value(generic, plain, clear)
}

// entryOptions are the per-device settings that shape an entry.
type entryOptions struct {
	hmacAccessor       bool
	elideListResponses bool
}

// elideList replaces the keys of a list response by their count, as Vault
// does with elide_list_responses.
func elideList(d map[string]any) map[string]any {
	if d == nil {
		return nil
	}
	out := make(map[string]any, len(d))
	for k, v := range d {
		k = bounded(k, maxField)
		switch x := v.(type) {
		case []string:
			out[k] = len(x)
		case []any:
			out[k] = len(x)
		case map[string]any:
			out[k] = len(x)
		default:
			out[k] = "elided"
		}
	}
	return out
}
