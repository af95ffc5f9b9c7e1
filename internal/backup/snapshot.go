package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// A raft snapshot stream has the shape Vault's clients check (the official
// Go client, and so the vault and bao CLIs, refuse a snapshot without a
// non-empty SHA256SUMS.sealed as its last entry): a gzip-compressed tar
// archive of
//
//	meta.json          the Header, JSON
//	state.bin          the state machine file: barrier ciphertext
//	SHA256SUMS         "HEX  NAME" lines for meta.json and state.bin
//	SHA256SUMS.sealed  SHA256SUMS sealed by the cluster's barrier
//
// SHA256SUMS proves the stream whole; SHA256SUMS.sealed proves that the
// cluster whose keyring opens it made the snapshot, which is how a restore
// tells its own snapshot from another cluster's whatever meta.json claims.

// Names of the snapshot archive's entries, in order.
const (
	snapMeta   = "meta.json"
	snapState  = "state.bin"
	snapSums   = "SHA256SUMS"
	snapSealed = "SHA256SUMS.sealed"
)

// SealedSumsPath is the barrier path SHA256SUMS is sealed at.
const SealedSumsPath = "core/raft/snapshot-sums"

// WriteSnapshot writes a raft snapshot stream of size bytes from body to
// w. seal seals SHA256SUMS (the barrier's Encrypt at SealedSumsPath).
func WriteSnapshot(w io.Writer, h Header, size int64, body io.WriterTo, seal func([]byte) ([]byte, error)) error {
	if size < 0 {
		return fmt.Errorf("write snapshot: negative size %d", size)
	}
	h.Version, h.Size = Version, size
	meta, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	mod := h.Created
	if mod.IsZero() {
		mod = time.Now()
	}
	put := func(name string, n int64) error {
		return tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: n, ModTime: mod, Typeflag: tar.TypeReg, Format: tar.FormatPAX})
	}
	metaSum := sha256.Sum256(meta)
	if err := put(snapMeta, int64(len(meta))); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if _, err := tw.Write(meta); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := put(snapState, size); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	stateSum := sha256.New()
	cw := &countWriter{w: io.MultiWriter(tw, stateSum)}
	if _, err := body.WriteTo(cw); err != nil {
		return fmt.Errorf("write snapshot: state: %w", err)
	}
	if cw.n != size {
		return fmt.Errorf("write snapshot: state wrote %d bytes, want %d", cw.n, size)
	}
	sums := fmt.Appendf(nil, "%x  %s\n%x  %s\n", metaSum[:], snapMeta, stateSum.Sum(nil), snapState)
	sealed, err := seal(sums)
	if err != nil {
		return fmt.Errorf("write snapshot: seal the sums: %w", err)
	}
	for _, e := range []struct {
		name string
		b    []byte
	}{{snapSums, sums}, {snapSealed, sealed}} {
		if err := put(e.name, int64(len(e.b))); err != nil {
			return fmt.Errorf("write snapshot: %w", err)
		}
		if _, err := tw.Write(e.b); err != nil {
			return fmt.Errorf("write snapshot: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// SnapshotReader reads a raft snapshot stream: NewSnapshotReader reads
// meta.json, Read returns state.bin, and the final io.EOF comes only once
// SHA256SUMS matched both and, unless the reader was told to trust an
// unopened seal, SHA256SUMS.sealed opened to the same bytes.
//
// Read fails with an error wrapping ErrCorrupt for a cut or altered
// stream, and with ErrForeign for one whose sealed sums do not open.
type SnapshotReader struct {
	Header Header
	tr     *tar.Reader
	zr     *gzip.Reader
	metaH  [sha256.Size]byte
	state  hash.Hash
	left   int64
	open   func([]byte) ([]byte, error)
	done   bool
	err    error
	// allowForeign accepts sums that do not open (AllowForeign).
	allowForeign bool
	// Sealed is set once the stream ends: whether the sealed sums opened
	// under this cluster's barrier.
	Sealed bool
}

// maxSumsFile bounds SHA256SUMS and its sealed form.
const maxSumsFile = 4 << 10

// NewSnapshotReader reads the archive's framing and meta.json from r. open
// opens SHA256SUMS.sealed (the barrier's Decrypt at SealedSumsPath); nil,
// or an open that fails, leaves Sealed false, and Read then fails with
// ErrForeign unless AllowForeign was called.
func NewSnapshotReader(r io.Reader, open func([]byte) ([]byte, error)) (*SnapshotReader, error) {
	zr, err := gzip.NewReader(bufio.NewReader(r))
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w: not a gzip stream", ErrCorrupt)
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil || h.Name != snapMeta || h.Size > MaxHeader || h.Size < 0 {
		return nil, fmt.Errorf("read snapshot: %w: no %s first", ErrCorrupt, snapMeta)
	}
	meta, err := io.ReadAll(io.LimitReader(tr, MaxHeader))
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w: %w", ErrCorrupt, err)
	}
	var hdr Header
	if err := json.Unmarshal(meta, &hdr); err != nil {
		return nil, fmt.Errorf("read snapshot: %w: %s: %w", ErrCorrupt, snapMeta, err)
	}
	if hdr.Version != Version {
		return nil, fmt.Errorf("read snapshot: format version %d, this build reads %d", hdr.Version, Version)
	}
	sh, err := tr.Next()
	if err != nil || sh.Name != snapState || sh.Size != hdr.Size || sh.Size < 0 {
		return nil, fmt.Errorf("read snapshot: %w: no %s of the size %s names", ErrCorrupt, snapState, snapMeta)
	}
	return &SnapshotReader{Header: hdr, tr: tr, zr: zr, metaH: sha256.Sum256(meta), state: sha256.New(), left: sh.Size, open: open}, nil
}

// Read returns state.bin's bytes, then io.EOF once the stream verified.
func (s *SnapshotReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.left == 0 {
		if !s.done {
			s.done = true
			if s.err = s.finish(); s.err != nil {
				return 0, s.err
			}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.tr.Read(p)
	s.state.Write(p[:n])
	s.left -= int64(n)
	if err == io.EOF && s.left > 0 {
		s.err = fmt.Errorf("read snapshot: %w: %s cut short", ErrCorrupt, snapState)
		return n, s.err
	}
	if err != nil && err != io.EOF {
		s.err = fmt.Errorf("read snapshot: %w: %w", ErrCorrupt, err)
		return n, s.err
	}
	return n, nil
}

// ErrForeign is wrapped by Read when SHA256SUMS.sealed does not open under
// this cluster's barrier: the snapshot is another cluster's (or was
// altered and resealed by someone without the keyring).
var ErrForeign = errors.New("snapshot was not sealed by this cluster")

// AllowForeign makes Read accept a snapshot whose sealed sums do not open
// (a forced restore of another cluster's snapshot); SHA256SUMS must still
// match.
func (s *SnapshotReader) AllowForeign() { s.allowForeign = true }

func (s *SnapshotReader) finish() error {
	read := func(name string) ([]byte, error) {
		h, err := s.tr.Next()
		if err != nil || h.Name != name || h.Size > maxSumsFile || h.Size < 0 {
			return nil, fmt.Errorf("read snapshot: %w: no %s", ErrCorrupt, name)
		}
		b, err := io.ReadAll(io.LimitReader(s.tr, maxSumsFile))
		if err != nil || int64(len(b)) != h.Size {
			return nil, fmt.Errorf("read snapshot: %w: %s cut short", ErrCorrupt, name)
		}
		return b, nil
	}
	sums, err := read(snapSums)
	if err != nil {
		return err
	}
	sealed, err := read(snapSealed)
	if err != nil {
		return err
	}
	if _, err := s.tr.Next(); err != io.EOF {
		return fmt.Errorf("read snapshot: %w: entries after %s", ErrCorrupt, snapSealed)
	}
	if _, err := io.Copy(io.Discard, s.zr); err != nil {
		return fmt.Errorf("read snapshot: %w: %w", ErrCorrupt, err)
	}
	want := fmt.Appendf(nil, "%x  %s\n%x  %s\n", s.metaH[:], snapMeta, s.state.Sum(nil), snapState)
	if subtle.ConstantTimeCompare(sums, want) != 1 {
		return fmt.Errorf("read snapshot: %w: %s does not match the contents", ErrCorrupt, snapSums)
	}
	if s.open != nil {
		if plain, err := s.open(sealed); err == nil && bytes.Equal(plain, sums) {
			s.Sealed = true
		}
	}
	if !s.Sealed && !s.allowForeign {
		return ErrForeign
	}
	return nil
}

// Digest returns the hex SHA-256 of state.bin once the stream verified.
func (s *SnapshotReader) Digest() string {
	if !s.done || s.err != nil {
		return ""
	}
	return hex.EncodeToString(s.state.Sum(nil))
}

// IsSnapshot reports whether b starts like a raft snapshot stream (gzip)
// rather than a bolt backup.
func IsSnapshot(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }
