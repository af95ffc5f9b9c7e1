package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's on-disk meta page, as written by go.etcd.io/bbolt v1 (file format
// version 2, native byte order): a 16-byte page header, then magic, version,
// page size, flags (uint32 each), root bucket page and sequence, freelist
// page, high-water page id, txid (uint64 each) and an FNV-64a checksum of
// everything before it.
const (
	pageHeaderSize = 16
	metaSize       = 64
	metaMagic      = 0xED0CDAED
	metaVersion    = 2
	noFreelist     = ^uint64(0)
	minPageSize    = 1024
	maxPageSize    = 1 << 24
)

type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64 // high-water mark: pages [0, pgid) are in use
}

// verifyFile checks both meta pages and that the file reaches every page they
// claim, before bbolt maps it: bbolt alone silently falls back to the other
// meta page (losing the last commit) and faults on a truncated file. An empty
// file is new and passes. Requiring both meta pages is strict on purpose: a
// meta page torn by power loss also fails here, and recovery is then a
// deliberate operator step, never a silent rollback.
func verifyFile(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat file: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	m0, err := readMeta(f, 0)
	if err != nil {
		return fmt.Errorf("%w: meta page 0: %w", ErrCorrupt, err)
	}
	m1, err := readMeta(f, int64(m0.pageSize))
	if err != nil {
		return fmt.Errorf("%w: meta page 1: %w", ErrCorrupt, err)
	}
	if m1.pageSize != m0.pageSize {
		return fmt.Errorf("%w: meta pages disagree on page size (%d, %d)", ErrCorrupt, m0.pageSize, m1.pageSize)
	}
	for i, m := range []meta{m0, m1} {
		if m.pgid < 2 || m.pgid > uint64(size)/uint64(m.pageSize) {
			return fmt.Errorf("%w: meta page %d needs %d pages of %d bytes but the file is %d bytes (truncated?)",
				ErrCorrupt, i, m.pgid, m.pageSize, size)
		}
		if m.root >= m.pgid || (m.freelist != noFreelist && m.freelist >= m.pgid) {
			return fmt.Errorf("%w: meta page %d points past its high-water mark", ErrCorrupt, i)
		}
	}
	return nil
}

var (
	errShort    = errors.New("file too short")
	errMagic    = errors.New("not a bbolt file (bad magic)")
	errVersion  = errors.New("unsupported bbolt file version")
	errChecksum = errors.New("checksum mismatch")
	errPageSize = errors.New("invalid page size")
)

func readMeta(r io.ReaderAt, off int64) (meta, error) {
	var buf [pageHeaderSize + metaSize]byte
	if _, err := r.ReadAt(buf[:], off); err != nil {
		if errors.Is(err, io.EOF) {
			return meta{}, errShort
		}
		return meta{}, err
	}
	b := buf[pageHeaderSize:]
	ne := binary.NativeEndian
	if ne.Uint32(b[0:]) != metaMagic {
		return meta{}, errMagic
	}
	if ne.Uint32(b[4:]) != metaVersion {
		return meta{}, errVersion
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != ne.Uint64(b[56:]) {
		return meta{}, errChecksum
	}
	m := meta{
		pageSize: ne.Uint32(b[8:]),
		root:     ne.Uint64(b[16:]),
		freelist: ne.Uint64(b[32:]),
		pgid:     ne.Uint64(b[40:]),
	}
	if m.pageSize < minPageSize || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0 {
		return meta{}, errPageSize
	}
	return m, nil
}
