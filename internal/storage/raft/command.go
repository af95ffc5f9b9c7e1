package raft

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/keyward/keyward/internal/storage"
)

// commandVersion is the first byte of every command in the Raft log. A node
// refuses a command of a version it does not know rather than guessing.
const commandVersion = 1

// Op kinds inside a command.
const (
	opPut    = 1
	opDelete = 2
)

// errBadCommand is wrapped by decodeCommand for a malformed command.
var errBadCommand = errors.New("malformed command")

// encodeCommand encodes ops as one log entry:
//
//	version(1) count(uvarint) { kind(1) keylen(uvarint) key [vallen(uvarint) value] }*
//
// where kind is 1 for a put (followed by the value) or 2 for a delete. The
// encoding is canonical: decodeCommand(encodeCommand(ops)) returns ops, and
// every command decodeCommand accepts re-encodes to the same bytes.
func encodeCommand(ops []storage.Op) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, op := range ops {
		n += 1 + 2*binary.MaxVarintLen64 + len(op.Key) + len(op.Value)
	}
	b := make([]byte, 0, n)
	b = append(b, commandVersion)
	b = binary.AppendUvarint(b, uint64(len(ops)))
	for _, op := range ops {
		if op.Delete {
			b = append(b, opDelete)
		} else {
			b = append(b, opPut)
		}
		b = binary.AppendUvarint(b, uint64(len(op.Key)))
		b = append(b, op.Key...)
		if !op.Delete {
			b = binary.AppendUvarint(b, uint64(len(op.Value)))
			b = append(b, op.Value...)
		}
	}
	return b
}

// decodeCommand decodes a command written by encodeCommand. It rejects an
// unknown version or kind, an empty key, a key longer than
// storage.MaxKeyLength, a length running past the end, a non-minimal
// varint, and trailing bytes. Put values are non-nil and alias b. Errors
// name offsets, never bytes of a key or value.
func decodeCommand(b []byte) ([]storage.Op, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", errBadCommand)
	}
	if b[0] != commandVersion {
		return nil, fmt.Errorf("%w: unknown version %d", errBadCommand, b[0])
	}
	d := decoder{b: b, off: 1}
	count, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	// Every op takes at least three bytes: kind, key length, one key byte.
	if count > uint64(len(b)-d.off)/3 {
		return nil, fmt.Errorf("%w: %d ops in %d bytes", errBadCommand, count, len(b))
	}
	ops := make([]storage.Op, 0, count)
	for i := range count {
		if d.off >= len(b) {
			return nil, fmt.Errorf("%w: op %d: truncated", errBadCommand, i)
		}
		kind := b[d.off]
		d.off++
		if kind != opPut && kind != opDelete {
			return nil, fmt.Errorf("%w: op %d: unknown kind %d", errBadCommand, i, kind)
		}
		key, err := d.bytes()
		if err != nil {
			return nil, fmt.Errorf("op %d: key: %w", i, err)
		}
		if len(key) == 0 {
			return nil, fmt.Errorf("%w: op %d: empty key", errBadCommand, i)
		}
		if len(key) > storage.MaxKeyLength {
			return nil, fmt.Errorf("%w: op %d: key of %d bytes", errBadCommand, i, len(key))
		}
		op := storage.Op{Key: string(key), Delete: kind == opDelete}
		if !op.Delete {
			if op.Value, err = d.bytes(); err != nil {
				return nil, fmt.Errorf("op %d: value: %w", i, err)
			}
		}
		ops = append(ops, op)
	}
	if d.off != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadCommand, len(b)-d.off)
	}
	return ops, nil
}

type decoder struct {
	b   []byte
	off int
}

// uvarint reads a minimally encoded uvarint.
func (d *decoder) uvarint() (uint64, error) {
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad length at offset %d", errBadCommand, d.off)
	}
	if n != len(binary.AppendUvarint(nil, v)) {
		return 0, fmt.Errorf("%w: non-minimal length at offset %d", errBadCommand, d.off)
	}
	d.off += n
	return v, nil
}

// bytes reads a length-prefixed byte string, aliasing d.b; never nil.
func (d *decoder) bytes() ([]byte, error) {
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.b)-d.off) {
		return nil, fmt.Errorf("%w: length %d at offset %d runs past the end", errBadCommand, n, d.off)
	}
	v := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return v, nil
}
