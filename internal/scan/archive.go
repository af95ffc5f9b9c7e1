package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// budget bounds the uncompressed bytes and members read from one top-level
// archive, nesting included, so a zip bomb costs a bounded amount of work.
type budget struct {
	left    int64
	entries int
}

const (
	maxEntries   = 100000
	maxNestedZip = 64 << 20
)

// budgetReader charges every byte read to a budget and stops at zero.
type budgetReader struct {
	r io.Reader
	b *budget
}

var (
	errBudget     = errors.New("archive size limit reached")
	errEntryLimit = errors.New("entry size limit reached")
)

func (br *budgetReader) Read(p []byte) (int, error) {
	if br.b.left <= 0 {
		return 0, errBudget
	}
	if int64(len(p)) > br.b.left {
		p = p[:br.b.left]
	}
	n, err := br.r.Read(p)
	br.b.left -= int64(n)
	return n, err
}

// entryReader reads one archive member of at most left bytes. Content
// that goes on past the limit fails with errEntryLimit, so a cut is
// reported, never taken for the end.
type entryReader struct {
	r    io.Reader
	left int64
}

func (er *entryReader) Read(p []byte) (int, error) {
	if er.left <= 0 {
		var one [1]byte
		n, err := io.ReadFull(er.r, one[:])
		if n > 0 {
			return 0, errEntryLimit
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > er.left {
		p = p[:er.left]
	}
	n, err := er.r.Read(p)
	er.left -= int64(n)
	return n, err
}

// archiveKind recognises zip (jar, war, whl…), gzip and tar by magic bytes.
func archiveKind(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return "zip"
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip"
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return "tar"
	}
	return ""
}

// memberName makes an archive member name safe to show: slashes only, no
// traversal, no control characters.
func memberName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Clean("/" + name)[1:]
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, name)
}

// memberItem is the item of an archive member.
func memberItem(it item, name string) item {
	child := it
	child.path = it.path + "!" + memberName(name)
	child.rel = ""
	if it.rel != "" {
		child.rel = it.rel + "!" + memberName(name)
	}
	return child
}

func (r *run) scanArchive(it item, kind string, rd io.Reader, size int64, ra io.ReaderAt, depth int, b *budget) {
	if depth >= r.s.opts.MaxDepth {
		r.incomplete(it, fmt.Sprintf("archive nesting deeper than the limit (%d)", r.s.opts.MaxDepth))
		return
	}
	entryLimit := "larger than the entry limit (" + humanBytes(r.s.opts.MaxEntryBytes) + ")"
	switch kind {
	case "gzip":
		gz, err := gzip.NewReader(&budgetReader{rd, b})
		if err != nil {
			r.incomplete(it, "gzip: "+errMsg(err))
			return
		}
		// A .gz may hold several streams, which gunzip concatenates: scan
		// them all, under the .gz's name.
		r.scanContent(it, &entryReader{&budgetReader{gz, b}, r.s.opts.MaxEntryBytes}, -1, depth+1, nil, b)
	case "tar":
		tr := tar.NewReader(rd)
		for {
			hdr, err := tr.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					r.incomplete(it, "tar: "+errMsg(err))
				}
				return
			}
			if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != typeRegA {
				continue
			}
			if !r.member(it, hdr.Name, hdr.Size, b) {
				return
			}
			child := memberItem(it, hdr.Name)
			if hdr.Size > r.s.opts.MaxEntryBytes {
				r.incomplete(child, entryLimit)
				continue
			}
			r.scanContent(child, &budgetReader{tr, b}, hdr.Size, depth+1, nil, b)
			if b.left <= 0 {
				r.budgetSpent(it)
				return
			}
		}
	case "zip":
		if ra == nil || size < 0 {
			data, err := io.ReadAll(io.LimitReader(&budgetReader{rd, b}, maxNestedZip+1))
			switch {
			case errors.Is(err, errBudget):
				r.budgetSpent(it)
				return
			case err != nil:
				r.incomplete(it, r.readReason(err))
				return
			case len(data) > maxNestedZip:
				r.incomplete(it, "zip read from a stream larger than the in-memory limit ("+humanBytes(maxNestedZip)+")")
				return
			}
			ra, size = bytes.NewReader(data), int64(len(data))
		}
		zr, err := zip.NewReader(ra, size)
		if err != nil {
			r.incomplete(it, "zip: "+errMsg(err))
			return
		}
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				continue
			}
			if !r.member(it, f.Name, int64(f.UncompressedSize64), b) {
				return
			}
			child := memberItem(it, f.Name)
			if f.UncompressedSize64 > uint64(r.s.opts.MaxEntryBytes) {
				r.incomplete(child, entryLimit)
				continue
			}
			rc, err := f.Open()
			if err != nil {
				r.incomplete(child, "zip: "+errMsg(err))
				continue
			}
			lr := &entryReader{&budgetReader{rc, b}, r.s.opts.MaxEntryBytes}
			r.scanContent(child, lr, int64(min(f.UncompressedSize64, uint64(wholeMax)+1)), depth+1, nil, b)
			rc.Close()
			if b.left <= 0 {
				r.budgetSpent(it)
				return
			}
		}
	}
}

// member counts an archive member against the budget's entry limit.
func (r *run) member(it item, name string, size int64, b *budget) bool {
	b.entries++
	if b.entries > maxEntries {
		r.incomplete(it, fmt.Sprintf("more members than the limit (%d)", maxEntries))
		return false
	}
	return r.ctx.Err() == nil
}

// budgetSpent reports the rest of a top-level archive left unread.
func (r *run) budgetSpent(it item) {
	r.incomplete(it, errBudget.Error()+" ("+humanBytes(r.s.opts.MaxArchiveBytes)+"); the rest is not scanned")
}

// readReason says why reading content stopped early. It never names the
// path (the report does) or quotes content.
func (r *run) readReason(err error) string {
	switch {
	case errors.Is(err, errBudget):
		return "cut short: " + errBudget.Error() + " (" + humanBytes(r.s.opts.MaxArchiveBytes) + ")"
	case errors.Is(err, errEntryLimit):
		return "cut short: " + errEntryLimit.Error() + " (" + humanBytes(r.s.opts.MaxEntryBytes) + ")"
	}
	return "read error: " + pathErr(err)
}

// errMsg shortens library errors for skip notes; archive errors never
// carry file content.
func errMsg(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

func newGzip(r io.Reader) (*gzip.Reader, error) { return gzip.NewReader(r) }

// typeRegA is the pre-POSIX regular-file flag ('\x00') that old tar writers
// still emit; archive/tar deprecates its name, not the files that use it.
const typeRegA = '\x00'
