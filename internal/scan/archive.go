package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
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

var errBudget = errors.New("archive size limit reached")

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

func (r *run) scanArchive(it item, kind string, rd io.Reader, size int64, ra io.ReaderAt, depth int, b *budget) {
	if depth >= r.s.opts.MaxDepth {
		r.skip(it.path, "archive nesting deeper than the limit")
		return
	}
	switch kind {
	case "gzip":
		gz, err := gzip.NewReader(&budgetReader{rd, b})
		if err != nil {
			r.skip(it.path, "bad gzip")
			return
		}
		gz.Multistream(false)
		// A .gz holds one stream: scan it under the same name.
		r.scanContent(it, io.LimitReader(&budgetReader{gz, b}, r.s.opts.MaxEntryBytes), -1, depth+1, nil, b)
	case "tar":
		tr := tar.NewReader(rd)
		for {
			hdr, err := tr.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					r.skip(it.path, "tar: "+errMsg(err))
				}
				return
			}
			if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != typeRegA {
				continue
			}
			if !r.member(it, hdr.Name, hdr.Size, b) {
				return
			}
			if hdr.Size > r.s.opts.MaxEntryBytes {
				r.skip(it.path+"!"+memberName(hdr.Name), "larger than the entry limit")
				continue
			}
			child := it
			child.path = it.path + "!" + memberName(hdr.Name)
			child.rel = ""
			if it.rel != "" {
				child.rel = it.rel + "!" + memberName(hdr.Name)
			}
			r.scanContent(child, &budgetReader{tr, b}, hdr.Size, depth+1, nil, b)
			if b.left <= 0 {
				r.skip(it.path, errBudget.Error())
				return
			}
		}
	case "zip":
		if ra == nil || size < 0 {
			data, err := io.ReadAll(io.LimitReader(&budgetReader{rd, b}, maxNestedZip+1))
			if err != nil || len(data) > maxNestedZip {
				r.skip(it.path, "nested zip larger than the in-memory limit")
				return
			}
			ra, size = bytes.NewReader(data), int64(len(data))
		}
		zr, err := zip.NewReader(ra, size)
		if err != nil {
			r.skip(it.path, "zip: "+errMsg(err))
			return
		}
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				continue
			}
			if !r.member(it, f.Name, int64(f.UncompressedSize64), b) {
				return
			}
			if f.UncompressedSize64 > uint64(r.s.opts.MaxEntryBytes) {
				r.skip(it.path+"!"+memberName(f.Name), "larger than the entry limit")
				continue
			}
			rc, err := f.Open()
			if err != nil {
				r.skip(it.path+"!"+memberName(f.Name), "zip: "+errMsg(err))
				continue
			}
			child := it
			child.path = it.path + "!" + memberName(f.Name)
			child.rel = ""
			if it.rel != "" {
				child.rel = it.rel + "!" + memberName(f.Name)
			}
			lr := io.LimitReader(&budgetReader{rc, b}, r.s.opts.MaxEntryBytes)
			r.scanContent(child, lr, int64(min(f.UncompressedSize64, uint64(wholeMax)+1)), depth+1, nil, b)
			rc.Close()
			if b.left <= 0 {
				r.skip(it.path, errBudget.Error())
				return
			}
		}
	}
}

// member counts an archive member against the budget's entry limit.
func (r *run) member(it item, name string, size int64, b *budget) bool {
	b.entries++
	if b.entries > maxEntries {
		r.skip(it.path, "more members than the limit")
		return false
	}
	return r.ctx.Err() == nil
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
