package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
// or the final newline). ts is the output of appendTime. An entry over
// maxEntry bytes is written again with its data summarised (bound.go).
func (d *device) appendRequestEntry(b, ts []byte, req *logical.Request, authErr error) []byte {
	start := len(b)
	b = d.requestEntry(b, ts, req, authErr, false)
	if len(b)-start > maxEntry {
		b = d.requestEntry(b[:start], ts, req, authErr, true)
	}
	return b
}

// appendResponseEntry appends the response entry, bounded as
// appendRequestEntry is.
func (d *device) appendResponseEntry(b, ts []byte, req *logical.Request, resp *logical.Response, respErr error) []byte {
	start := len(b)
	b = d.responseEntry(b, ts, req, resp, respErr, false)
	if len(b)-start > maxEntry {
		b = d.responseEntry(b[:start], ts, req, resp, respErr, true)
	}
	return b
}

// requestEntry appends the request entry; summary writes its data as a
// summary only.
func (d *device) requestEntry(b, ts []byte, req *logical.Request, authErr error, summary bool) []byte {
	b = append(b, `{"time":`...)
	b = append(b, ts...)
	b = append(b, `,"type":"request"`...)
	b = d.appendAuthRequest(b, req, authErr, newBudget(summary))
	if authErr != nil {
		_, msg, _ := logical.StatusOf(authErr)
		b = appendMsgField(b, "error", msg)
	}
	return append(b, '}')
}

// responseEntry appends the response entry; summary writes its data as a
// summary only and hashes a raw body even under log_raw.
func (d *device) responseEntry(b, ts []byte, req *logical.Request, resp *logical.Response, respErr error, summary bool) []byte {
	h, o := d.h, d.eo
	bud := newBudget(summary)
	b = append(b, `{"time":`...)
	b = append(b, ts...)
	b = append(b, `,"type":"response"`...)
	b = d.appendAuthRequest(b, req, respErr, bud)
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
				b = appendObject(b, resp.Data, bud, appendElided)
			} else {
				b = h.appendMap(b, resp.Data, req.MountConfig.AuditNonHMACResponseKeys, bud)
			}
		}
		switch {
		case summary && len(resp.Raw) > 0:
			b = append(b, `,"raw":`...)
			b = h.appendHash(b, string(resp.Raw))
		case resp.Raw != nil:
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
			b = appendHashedField(b, h, "client_token", a.ClientToken.Reveal())
			b = appendAccessor(b, h, o, "accessor", a.Accessor)
			b = appendStrField(b, "display_name", a.DisplayName)
			b = appendStrings(b, "policies", boundedList(a.Policies, maxPolicies), maxField)
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
		b = appendStrings(b, "warnings", boundedList(resp.Warnings, maxForwarded), maxMessage)
	}
	b = append(b, '}')
	if respErr != nil {
		b = appendMsgField(b, "error", msg)
	}
	return append(b, '}')
}

// appendAuthRequest appends the "auth" and "request" members shared by
// both entries. err is the entry's error: a request refused before any
// caller was authenticated gets only the summary of its data.
func (d *device) appendAuthRequest(b []byte, req *logical.Request, err error, bud *budget) []byte {
	h, o := d.h, d.eo
	if t := req.Token; t != nil {
		b = append(b, `,"auth":{`...)
		n := len(b)
		b = appendAccessor(b, h, o, "accessor", t.Accessor)
		b = appendStrField(b, "display_name", t.DisplayName)
		b = appendStrings(b, "policies", boundedList(t.Policies, maxPolicies), maxField)
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
		b = appendStrings(b, "x_forwarded_for", boundedList(req.Headers.Values("X-Forwarded-For"), maxForwarded), maxField)
	}
	b = appendHashedField(b, h, "client_token", req.ClientToken.Reveal())
	if ttl := int64(req.WrapTTL / time.Second); ttl != 0 {
		b = append(b, `,"wrap_ttl":`...)
		b = strconv.AppendInt(b, ttl, 10)
	}
	if len(req.Data) > 0 {
		if anonymousRefusal(req, err) {
			bud = newBudget(true)
		}
		b = append(b, `,"data":`...)
		b = h.appendMap(b, req.Data, req.MountConfig.AuditNonHMACRequestKeys, bud)
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

// appendMetadata appends the readable token metadata, keys sorted, at
// most maxObjectKeys of them.
func appendMetadata(b []byte, m map[string]string) []byte {
	if len(m) == 0 {
		return b
	}
	b = append(b, `,"metadata":`...)
	return appendObject(b, m, &budget{left: maxObjectKeys}, appendReadable)
}

func appendReadable(b []byte, s string) []byte { return appendString(b, bounded(s, maxField)) }

// appendElided appends what an elided list response shows for a value: the
// number of keys of a list or object, as Vault does with
// elide_list_responses, or "elided".
func appendElided(b []byte, v any) []byte {
	switch x := v.(type) {
	case []string:
		return strconv.AppendInt(b, int64(len(x)), 10)
	case []any:
		return strconv.AppendInt(b, int64(len(x)), 10)
	case map[string]any:
		return strconv.AppendInt(b, int64(len(x)), 10)
	}
	return append(b, `"elided"`...)
}

// appendObject appends m as an object of the keys bud lets it show, each
// value written by val, and the "…" member counting the others, placed
// where encoding/json sorts it.
func appendObject[V any](b []byte, m map[string]V, bud *budget, val func([]byte, V) []byte) []byte {
	return appendObjectKeyed(b, m, bud, func(b []byte, _ string, v V) []byte { return val(b, v) })
}

// appendObjectKeyed is appendObject with each value's key passed to val.
func appendObjectKeyed[V any](b []byte, m map[string]V, bud *budget, val func([]byte, string, V) []byte) []byte {
	keys, shown, omitted := objectKeys(m, bud)
	b = append(b, '{')
	n := len(b)
	more := len(omitted) > 0
	for i, k := range keys {
		if more && shown[i] > moreKey {
			b = appendMoreKeys(b, n, omitted, len(keys))
			more = false
		}
		if len(b) > n {
			b = append(b, ',')
		}
		b = appendString(b, shown[i])
		b = append(b, ':')
		b = val(b, k, m[k])
	}
	if more {
		b = appendMoreKeys(b, n, omitted, len(keys))
	}
	return append(b, '}')
}

// appendMoreKeys appends the "…" member of an object opened at n.
func appendMoreKeys(b []byte, n int, omitted []string, shown int) []byte {
	if len(b) > n {
		b = append(b, ',')
	}
	b = appendString(b, moreKey)
	b = append(b, ':')
	return appendString(b, moreKeys(omitted, shown))
}

// appendArray appends vs as an array of the values bud lets it show, each
// written by val, and a last value counting the others.
func appendArray[V any](b []byte, vs []V, bud *budget, val func([]byte, V) []byte) []byte {
	n := bud.take(len(vs), maxArrayValues)
	b = append(b, '[')
	for i, v := range vs[:n] {
		if i > 0 {
			b = append(b, ',')
		}
		b = val(b, v)
	}
	if n < len(vs) {
		if n > 0 {
			b = append(b, ',')
		}
		b = appendString(b, moreValues(len(vs)-n))
	}
	return append(b, ']')
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

// appendMap appends m with every value hashed, keys sorted, as bud lets
// it show them (bound.go). A value whose nearest key is in plain is written
// readable instead, at any depth, as Vault treats its
// audit_non_hmac_*_keys.
func (h *hasher) appendMap(b []byte, m map[string]any, plain []string, bud *budget) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	return appendObjectKeyed(b, m, bud, func(b []byte, k string, v any) []byte {
		return h.appendValue(b, v, plain, isPlain(plain, k), bud)
	})
}

// isPlain reports whether the values under key k stay readable.
func isPlain(plain []string, k string) bool {
	return len(plain) > 0 && slices.Contains(plain, k)
}

// appendValue appends v with every string and number hashed, or readable
// when clear (its nearest key is in plain), as bud lets it show it.
func (h *hasher) appendValue(b []byte, v any, plain []string, clear bool, bud *budget) []byte {
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
			raw, _ := json.Marshal(x) // a readable number stays a number
			return append(b, raw...)
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
		return appendString(b, x.UTC().Format(time.RFC3339Nano)) // timestamps are not secret
	case map[string]any:
		return h.appendMap(b, x, plain, bud)
	case []any:
		return appendArray(b, x, bud, func(b []byte, e any) []byte { return h.appendValue(b, e, plain, clear, bud) })
	case []string:
		return appendArray(b, x, bud, func(b []byte, e string) []byte { return h.appendStrAs(b, e, clear) })
	case map[string]string:
		return appendObjectKeyed(b, x, bud, func(b []byte, k, e string) []byte { return h.appendStrAs(b, e, isPlain(plain, k)) })
	}
	// Any other type (structs, typed slices) goes through its JSON form,
	// so nothing escapes hashing or the bounds.
	raw, err := json.Marshal(v)
	if err != nil {
		return h.appendStr(b, fmt.Sprintf("unencodable %T", v))
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return h.appendStr(b, string(raw))
	}
	return h.appendValue(b, generic, plain, clear, bud)
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
