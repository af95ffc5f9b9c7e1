package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward/internal/logical"
)

// The entry encoder appends an entry's JSON object to a buffer, hashing
// values as it goes. Its output is byte for byte what encoding/json gives
// for the Entry types (sorted map keys, HTML-safe escaping, omitempty), so
// logs written before and after it verify and query alike; it only skips
// reflection and the intermediate copies of hashed data.

// bufPool recycles entry buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return // do not pin a huge buffer
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// appendTime appends now as the quoted "time" value.
func appendTime(b []byte, now time.Time) []byte {
	b = append(b, '"')
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendRequestEntry appends the request entry of req (without seq, prev,
// or the final newline). ts is the output of appendTime.
func (d *device) appendRequestEntry(b, ts []byte, req *logical.Request, authErr error) []byte {
	b = append(b, `{"time":`...)
	b = append(b, ts...)
	b = append(b, `,"type":"request"`...)
	b = d.appendAuthRequest(b, req)
	if authErr != nil {
		_, msg, _ := logical.StatusOf(authErr)
		b = appendMsgField(b, "error", msg)
	}
	return append(b, '}')
}

// appendResponseEntry appends the response entry.
func (d *device) appendResponseEntry(b, ts []byte, req *logical.Request, resp *logical.Response, respErr error) []byte {
	h, o := d.h, d.eo
	b = append(b, `{"time":`...)
	b = append(b, ts...)
	b = append(b, `,"type":"response"`...)
	b = d.appendAuthRequest(b, req)
	status, msg, _ := logical.StatusOf(respErr)
	switch {
	case respErr != nil:
	case resp == nil:
		status = 204
	case resp.Status != 0:
		status = resp.Status
	}
	b = append(b, `,"response":{"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	if respErr == nil && resp != nil {
		if len(resp.Data) > 0 {
			b = append(b, `,"data":`...)
			if o.elideListResponses && req.Operation == logical.ListOperation {
				b = appendJSON(b, elideList(resp.Data))
			} else {
				b = h.appendMap(b, resp.Data, req.MountConfig.AuditNonHMACResponseKeys)
			}
		}
		if resp.Raw != nil {
			b = appendHashedField(b, h, "raw", string(resp.Raw))
		}
		if s := resp.Secret; s != nil {
			b = append(b, `,"secret":{`...)
			if s.LeaseID != "" {
				b = append(b, `"lease_id":`...)
				b = appendString(b, bounded(s.LeaseID, maxField))
				b = append(b, ',')
			}
			b = append(b, `"ttl":`...)
			b = strconv.AppendInt(b, int64(s.TTL/time.Second), 10)
			if s.Renewable {
				b = append(b, `,"renewable":true`...)
			}
			b = append(b, '}')
		}
		if a := resp.Auth; a != nil {
			b = append(b, `,"auth":{`...)
			n := len(b)
			b = appendHashedField(b, h, "client_token", a.ClientToken)
			b = appendAccessor(b, h, o, "accessor", a.Accessor)
			b = appendStrField(b, "display_name", a.DisplayName)
			b = appendStrings(b, "policies", a.Policies, maxField)
			b = appendMetadata(b, a.Metadata)
			b = appendStrField(b, "entity_id", a.EntityID)
			if ttl := int64(a.TTL / time.Second); ttl != 0 {
				b = append(b, `,"ttl":`...)
				b = strconv.AppendInt(b, ttl, 10)
			}
			b = dropLeadingComma(b, n)
			b = append(b, '}')
		}
		if w := resp.WrapInfo; w != nil {
			b = append(b, `,"wrap_info":{`...)
			n := len(b)
			b = appendHashedField(b, h, "token", w.Token)
			b = appendAccessor(b, h, o, "accessor", w.Accessor)
			b = append(b, `,"ttl":`...)
			b = strconv.AppendInt(b, int64(w.TTL/time.Second), 10)
			b = appendStrField(b, "creation_path", w.CreationPath)
			b = appendAccessor(b, h, o, "wrapped_accessor", w.WrappedAccessor)
			b = dropLeadingComma(b, n)
			b = append(b, '}')
		}
		b = appendStrings(b, "warnings", resp.Warnings, maxMessage)
	}
	b = append(b, '}')
	if respErr != nil {
		b = appendMsgField(b, "error", msg)
	}
	return append(b, '}')
}

// appendAuthRequest appends the "auth" and "request" members shared by
// both entries.
func (d *device) appendAuthRequest(b []byte, req *logical.Request) []byte {
	h, o := d.h, d.eo
	if t := req.Token; t != nil {
		b = append(b, `,"auth":{`...)
		n := len(b)
		b = appendAccessor(b, h, o, "accessor", t.Accessor)
		b = appendStrField(b, "display_name", t.DisplayName)
		b = appendStrings(b, "policies", t.Policies, maxField)
		b = appendMetadata(b, t.Metadata)
		b = appendStrField(b, "entity_id", t.EntityID)
		b = dropLeadingComma(b, n)
		b = append(b, '}')
	}
	b = append(b, `,"request":{`...)
	n := len(b)
	b = appendStrField(b, "id", req.ID)
	b = append(b, `,"operation":`...)
	b = appendString(b, bounded(string(req.Operation), maxField))
	b = append(b, `,"path":`...)
	b = appendString(b, bounded(req.Path, maxField))
	b = appendStrField(b, "mount_type", req.MountType)
	b = appendStrField(b, "mount_accessor", req.MountAccessor)
	if req.Connection != nil {
		b = appendStrField(b, "remote_address", req.Connection.RemoteAddr)
	}
	if req.Headers != nil {
		b = appendStrings(b, "x_forwarded_for", boundedList(req.Headers.Values("X-Forwarded-For")), maxField)
	}
	b = appendHashedField(b, h, "client_token", req.ClientToken)
	if ttl := int64(req.WrapTTL / time.Second); ttl != 0 {
		b = append(b, `,"wrap_ttl":`...)
		b = strconv.AppendInt(b, ttl, 10)
	}
	if len(req.Data) > 0 {
		b = append(b, `,"data":`...)
		b = h.appendMap(b, req.Data, req.MountConfig.AuditNonHMACRequestKeys)
	}
	if req.Unauthenticated {
		b = append(b, `,"unauthenticated":true`...)
	}
	b = dropLeadingComma(b, n)
	return append(b, '}')
}

// dropLeadingComma removes the comma at b[n], left by the first member of
// an object opened just before n.
func dropLeadingComma(b []byte, n int) []byte {
	if len(b) > n && b[n] == ',' {
		return append(b[:n], b[n+1:]...)
	}
	return b
}

// appendStrField appends ,"name":"s" unless s is empty (omitempty), s
// bounded to maxField.
func appendStrField(b []byte, name, s string) []byte {
	return appendBoundedField(b, name, s, maxField)
}

// appendMsgField is appendStrField for messages (maxMessage).
func appendMsgField(b []byte, name, s string) []byte {
	return appendBoundedField(b, name, s, maxMessage)
}

func appendBoundedField(b []byte, name, s string, n int) []byte {
	if s == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, bounded(s, n))
}

// appendHashedField appends ,"name":<hmac of s> unless s is empty.
func appendHashedField(b []byte, h *hasher, name, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return h.appendStr(b, s)
}

func appendAccessor(b []byte, h *hasher, o entryOptions, name, a string) []byte {
	if o.hmacAccessor {
		return appendHashedField(b, h, name, a)
	}
	return appendStrField(b, name, a)
}

// appendStrings appends ,"name":[...] unless ss is empty (readable values:
// policies, warnings, forwarded addresses), each bounded to n bytes.
func appendStrings(b []byte, name string, ss []string, n int) []byte {
	if len(ss) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, `":[`...)
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, bounded(s, n))
	}
	return append(b, ']')
}

// appendMetadata appends the readable token metadata, keys sorted.
func appendMetadata(b []byte, m map[string]string) []byte {
	if len(m) == 0 {
		return b
	}
	b = append(b, `,"metadata":{`...)
	keys, shown := boundedKeys(m)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, shown[i])
		b = append(b, ':')
		b = appendString(b, bounded(m[k], maxField))
	}
	return append(b, '}')
}

// appendJSON appends v as encoding/json writes it (rare shapes only).
func appendJSON(b []byte, v any) []byte {
	raw, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

// appendStr appends s hashed (or raw, under log_raw) as a JSON string.
func (h *hasher) appendStr(b []byte, s string) []byte {
	if s == "" || h.raw {
		return appendString(b, s)
	}
	return h.appendHash(b, s)
}

// appendStrAs appends s as appendStr does, or readable (bounded, as every
// readable string is) when clear: its key is one of the mount's
// audit_non_hmac_*_keys.
func (h *hasher) appendStrAs(b []byte, s string, clear bool) []byte {
	if clear && !h.raw {
		return appendString(b, bounded(s, maxField))
	}
	return h.appendStr(b, s)
}

// appendHash appends "hmac-sha256:<hex>" of s, quoted.
func (h *hasher) appendHash(b []byte, s string) []byte {
	st := h.pool.Get().(*hmacState)
	st.m.Reset()
	st.scratch = append(st.scratch[:0], s...)
	st.m.Write(st.scratch)
	var sum [sha256.Size]byte
	st.m.Sum(sum[:0])
	if cap(st.scratch) > 64<<10 {
		st.scratch = nil
	} else {
		clear(st.scratch) // the value may be a secret
	}
	h.pool.Put(st)
	b = append(b, '"')
	b = append(b, HMACPrefix...)
	b = hex.AppendEncode(b, sum[:])
	return append(b, '"')
}

// appendMap appends m with every value hashed, keys sorted (h.data's output
// as encoding/json writes it). A value whose nearest key is in plain is
// written readable instead, at any depth, as Vault treats its
// audit_non_hmac_*_keys.
func (h *hasher) appendMap(b []byte, m map[string]any, plain []string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	keys, shown := boundedKeys(m)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, shown[i])
		b = append(b, ':')
		b = h.appendValue(b, m[k], plain, isPlain(plain, k))
	}
	return append(b, '}')
}

// isPlain reports whether the values under key k stay readable.
func isPlain(plain []string, k string) bool {
	return len(plain) > 0 && slices.Contains(plain, k)
}

// appendValue appends h.value(v, plain, clear) as encoding/json writes it.
func (h *hasher) appendValue(b []byte, v any, plain []string, clear bool) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case string:
		return h.appendStrAs(b, x, clear)
	case json.Number, float64, int, int64:
		if clear && !h.raw {
			if n, ok := x.(json.Number); ok && len(n) > maxField {
				return appendString(b, bounded(string(n), maxField))
			}
			return appendJSON(b, x) // a readable number stays a number
		}
		switch n := x.(type) {
		case json.Number:
			return h.appendStr(b, n.String())
		case float64:
			return h.appendStr(b, strconv.FormatFloat(n, 'f', -1, 64))
		case int:
			return h.appendStr(b, strconv.Itoa(n))
		default:
			return h.appendStr(b, strconv.FormatInt(n.(int64), 10))
		}
	case []byte:
		return h.appendStrAs(b, string(x), clear)
	case time.Time:
		return appendString(b, x.UTC().Format(time.RFC3339Nano))
	case map[string]any:
		return h.appendMap(b, x, plain)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = h.appendValue(b, e, plain, clear)
		}
		return append(b, ']')
	case []string:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = h.appendStrAs(b, e, clear)
		}
		return append(b, ']')
	case map[string]string:
		b = append(b, '{')
		keys, shown := boundedKeys(x)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, shown[i])
			b = append(b, ':')
			b = h.appendStrAs(b, x[k], isPlain(plain, k))
		}
		return append(b, '}')
	}
	// Other types go through their JSON form, hashed, as h.value does.
	return appendJSON(b, h.value(v, plain, clear))
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json does
// (HTML-safe, invalid UTF-8 replaced by U+FFFD, U+2028/U+2029 escaped).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
