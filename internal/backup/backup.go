// Package backup is the format of a Keyward backup stream: a magic string,
// a JSON header, the store's bytes and a SHA-256 over everything before it.
//
//	"KEYWARD-BACKUP\x00"  15 bytes
//	header length         uint32, big endian
//	header                JSON (Header), at most MaxHeader bytes
//	body length           uint64, big endian
//	body                  the physical store (for bolt: the database file)
//	hash                  SHA-256 of all the bytes above, 32 bytes
//
// The body is the store exactly as the untrusted storage layer holds it:
// barrier ciphertext, never plaintext secrets or the unseal key. A reader
// learns of a truncated or altered stream from Reader's Read, which fails
// with an error wrapping ErrCorrupt instead of returning the final io.EOF.
package backup

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// Version is the format version Writer writes and Reader accepts.
const Version = 1

// MaxHeader bounds the JSON header.
const MaxHeader = 64 << 10

// HashSize is the length of the trailing SHA-256.
const HashSize = sha256.Size

const magic = "KEYWARD-BACKUP\x00"

// ErrCorrupt is wrapped by Reader when the stream is truncated, altered or
// not a backup.
var ErrCorrupt = errors.New("corrupt or truncated")

// Header describes a backup. It holds no secret.
type Header struct {
	Version     int       `json:"version"`
	ClusterID   string    `json:"cluster_id,omitempty"`
	StorageType string    `json:"storage_type"`
	Created     time.Time `json:"created"`
	// KeyTerm is the barrier keyring's term when the backup started.
	KeyTerm uint32 `json:"key_term,omitempty"`
	// Size is the body's length in bytes (filled from the framing).
	Size int64 `json:"size"`
}

// Write writes one backup to w: h (Version and Size are set here), then
// size bytes from body, then the hash. It streams; body must write exactly
// size bytes. It returns the SHA-256 it appended.
func Write(w io.Writer, h Header, size int64, body io.WriterTo) ([]byte, error) {
	if size < 0 {
		return nil, fmt.Errorf("write backup: negative size %d", size)
	}
	h.Version, h.Size = Version, size
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("write backup: encode header: %w", err)
	}
	if len(hj) > MaxHeader {
		return nil, fmt.Errorf("write backup: header is %d bytes, over %d", len(hj), MaxHeader)
	}
	sum := sha256.New()
	hw := io.MultiWriter(w, sum)
	pre := make([]byte, 0, len(magic)+4+len(hj)+8)
	pre = append(pre, magic...)
	pre = binary.BigEndian.AppendUint32(pre, uint32(len(hj)))
	pre = append(pre, hj...)
	pre = binary.BigEndian.AppendUint64(pre, uint64(size))
	if _, err := hw.Write(pre); err != nil {
		return nil, fmt.Errorf("write backup: %w", err)
	}
	cw := &countWriter{w: hw}
	if _, err := body.WriteTo(cw); err != nil {
		return nil, fmt.Errorf("write backup: body: %w", err)
	}
	if cw.n != size {
		return nil, fmt.Errorf("write backup: body wrote %d bytes, want %d", cw.n, size)
	}
	digest := sum.Sum(nil)
	if _, err := w.Write(digest); err != nil {
		return nil, fmt.Errorf("write backup: hash: %w", err)
	}
	return digest, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Reader reads a backup: NewReader parses the header, Read returns the
// body, and the final io.EOF comes only once the trailing hash matched
// and nothing follows it.
type Reader struct {
	Header Header
	src    io.Reader
	sum    hash.Hash
	left   int64
	digest []byte
	done   bool
}

// NewReader reads and checks the framing and header from r.
func NewReader(r io.Reader) (*Reader, error) {
	sum := sha256.New()
	tr := io.TeeReader(r, sum)
	var pre [len(magic) + 4]byte
	if _, err := io.ReadFull(tr, pre[:]); err != nil {
		return nil, fmt.Errorf("read backup header: %w: %w", ErrCorrupt, err)
	}
	if string(pre[:len(magic)]) != magic {
		return nil, fmt.Errorf("read backup header: %w: not a Keyward backup", ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(pre[len(magic):])
	if n > MaxHeader {
		return nil, fmt.Errorf("read backup header: %w: header length %d over %d", ErrCorrupt, n, MaxHeader)
	}
	buf := make([]byte, int(n)+8)
	if _, err := io.ReadFull(tr, buf); err != nil {
		return nil, fmt.Errorf("read backup header: %w: %w", ErrCorrupt, err)
	}
	var h Header
	dec := json.NewDecoder(bytes.NewReader(buf[:n]))
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("read backup header: %w: %w", ErrCorrupt, err)
	}
	if h.Version != Version {
		return nil, fmt.Errorf("read backup header: format version %d, this build reads %d", h.Version, Version)
	}
	size := binary.BigEndian.Uint64(buf[n:])
	if size > 1<<62 || int64(size) != h.Size {
		return nil, fmt.Errorf("read backup header: %w: body length %d disagrees with header %d", ErrCorrupt, size, h.Size)
	}
	return &Reader{Header: h, src: r, sum: sum, left: int64(size)}, nil
}

// Read returns body bytes. After the last one it reads the hash and
// returns io.EOF if it matches, an error wrapping ErrCorrupt if not.
func (r *Reader) Read(p []byte) (int, error) {
	if r.left == 0 {
		if err := r.finish(); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.src.Read(p)
	r.sum.Write(p[:n])
	r.left -= int64(n)
	if err == io.EOF {
		if r.left > 0 {
			return n, fmt.Errorf("read backup: %w: %d body bytes missing", ErrCorrupt, r.left)
		}
		err = nil
	}
	return n, err
}

func (r *Reader) finish() error {
	if r.done {
		return nil
	}
	var got [HashSize + 1]byte
	n, err := io.ReadFull(r.src, got[:])
	switch {
	case n < HashSize:
		return fmt.Errorf("read backup: %w: hash missing", ErrCorrupt)
	case n > HashSize:
		return fmt.Errorf("read backup: %w: data after the hash", ErrCorrupt)
	case err != nil && err != io.ErrUnexpectedEOF:
		return fmt.Errorf("read backup: %w", err)
	}
	want := r.sum.Sum(nil)
	if subtle.ConstantTimeCompare(got[:HashSize], want) != 1 {
		return fmt.Errorf("read backup: %w: hash mismatch", ErrCorrupt)
	}
	r.digest, r.done = want, true
	return nil
}

// Digest returns the verified SHA-256 in hex, or "" before Read returned
// io.EOF.
func (r *Reader) Digest() string {
	if !r.done {
		return ""
	}
	return hex.EncodeToString(r.digest)
}
