package kv

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"time"
)

// The metadata record is decoded on every read, so it has a compact binary
// encoding instead of JSON:
//
//	byte     format (1)
//	varint   created, updated (Unix ns)
//	uvarint  current, oldest, max_versions
//	byte     flags (bit 0: cas_required)
//	varint   delete_version_after (ns)
//	uvarint  number of custom metadata pairs, then per pair
//	         uvarint len + key bytes, uvarint len + value bytes (sorted by key)
//	uvarint  number of versions, then per version (ascending)
//	         uvarint n, varint created, varint deleted, byte destroyed
const metaFormat = 1

var errCorrupt = errors.New("kv: stored metadata is corrupt")

func appendMeta(buf []byte, m *keyMeta) []byte {
	buf = append(buf, metaFormat)
	buf = binary.AppendVarint(buf, m.Created)
	buf = binary.AppendVarint(buf, m.Updated)
	buf = binary.AppendUvarint(buf, uint64(m.Current))
	buf = binary.AppendUvarint(buf, uint64(m.Oldest))
	buf = binary.AppendUvarint(buf, uint64(m.MaxVersions))
	var flags byte
	if m.CASRequired {
		flags |= 1
	}
	buf = append(buf, flags)
	buf = binary.AppendVarint(buf, int64(m.DeleteAfter))
	keys := make([]string, 0, len(m.Custom))
	for k := range m.Custom {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = binary.AppendUvarint(buf, uint64(len(keys)))
	for _, k := range keys {
		buf = appendString(buf, k)
		buf = appendString(buf, m.Custom[k])
	}
	buf = binary.AppendUvarint(buf, uint64(len(m.Versions)))
	for _, v := range m.Versions {
		buf = binary.AppendUvarint(buf, uint64(v.N))
		buf = binary.AppendVarint(buf, v.Created)
		buf = binary.AppendVarint(buf, v.Deleted)
		if v.Destroyed {
			buf = append(buf, 1)
		} else {
			buf = append(buf, 0)
		}
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// metaDecoder reads a record, remembering the first error.
type metaDecoder struct {
	b   []byte
	bad bool
}

func (d *metaDecoder) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *metaDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a uvarint that must fit an int32 (versions, lengths).
func (d *metaDecoder) count() int {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > math.MaxInt32 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *metaDecoder) string() string {
	n := d.count()
	if d.bad || n > len(d.b) {
		d.bad = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func decodeMeta(b []byte, m *keyMeta) error {
	d := metaDecoder{b: b}
	if d.byte() != metaFormat {
		return errCorrupt
	}
	m.Created = d.varint()
	m.Updated = d.varint()
	m.Current = d.count()
	m.Oldest = d.count()
	m.MaxVersions = d.count()
	flags := d.byte()
	m.CASRequired = flags&1 != 0
	m.DeleteAfter = time.Duration(d.varint())
	// Every pair or version takes at least 2 bytes, which bounds
	// allocations by the record's size.
	if n := d.count(); n > 0 && !d.bad {
		if n > len(d.b)/2 {
			return errCorrupt
		}
		m.Custom = make(map[string]string, n)
		for range n {
			k := d.string()
			m.Custom[k] = d.string()
		}
	}
	if n := d.count(); n > 0 && !d.bad {
		if n > len(d.b)/2 {
			return errCorrupt
		}
		m.Versions = make([]versionMeta, n)
		for i := range m.Versions {
			v := &m.Versions[i]
			v.N = d.count()
			v.Created = d.varint()
			v.Deleted = d.varint()
			v.Destroyed = d.byte() == 1
			if i > 0 && v.N <= m.Versions[i-1].N {
				return errCorrupt
			}
		}
	}
	if d.bad || len(d.b) != 0 || flags&^1 != 0 {
		return errCorrupt
	}
	return nil
}
