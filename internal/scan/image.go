package scan

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// blobStore opens the named files of an image: members of a docker save
// tarball, or files of an OCI layout directory.
type blobStore interface {
	open(name string) (io.ReadCloser, error)
}

type dirStore string

func (d dirStore) open(name string) (io.ReadCloser, error) {
	root, err := os.OpenRoot(string(d))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Open(path.Clean(name))
}

// tarStore indexes a tarball's members by offset so each can be read with
// a SectionReader, in any order, without extracting.
type tarStore struct {
	f       *os.File
	members map[string][2]int64 // name -> offset, size
}

type posReader struct {
	f   *os.File
	pos int64
}

func (p *posReader) Read(b []byte) (int, error) {
	n, err := p.f.Read(b)
	p.pos += int64(n)
	return n, err
}

func (p *posReader) Seek(off int64, whence int) (int64, error) {
	n, err := p.f.Seek(off, whence)
	p.pos = n
	return n, err
}

func openTarStore(f *os.File) (*tarStore, error) {
	ts := &tarStore{f: f, members: map[string][2]int64{}}
	pr := &posReader{f: f}
	tr := tar.NewReader(pr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read image tarball: %w", err)
		}
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == typeRegA {
			ts.members[path.Clean(hdr.Name)] = [2]int64{pr.pos, hdr.Size}
		}
		if len(ts.members) > maxEntries {
			return nil, errors.New("read image tarball: too many members")
		}
	}
	return ts, nil
}

func (t *tarStore) open(name string) (io.ReadCloser, error) {
	m, ok := t.members[path.Clean(name)]
	if !ok {
		return nil, fmt.Errorf("%s: not in image tarball", name)
	}
	return io.NopCloser(io.NewSectionReader(t.f, m[0], m[1])), nil
}

// imageLayer is one layer to scan, in order.
type imageLayer struct {
	blob   string // name in the store
	digest string
	step   string // the Dockerfile instruction that made it, if known
}

type ociDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

type ociIndex struct {
	Manifests []ociDescriptor `json:"manifests"`
}

type ociManifest struct {
	Config ociDescriptor   `json:"config"`
	Layers []ociDescriptor `json:"layers"`
}

type dockerManifest struct {
	Config string   `json:"Config"`
	Layers []string `json:"Layers"`
}

type imageConfig struct {
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []struct {
		CreatedBy  string `json:"created_by"`
		EmptyLayer bool   `json:"empty_layer"`
	} `json:"history"`
}

const maxImageJSON = 16 << 20

func readJSON(st blobStore, name string, v any) error {
	rc, err := st.open(name)
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxImageJSON))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	return nil
}

func blobPath(digest string) (string, error) {
	alg, hex, ok := strings.Cut(digest, ":")
	if !ok || alg == "" || hex == "" || strings.ContainsAny(digest, "/\\") {
		return "", fmt.Errorf("bad digest %q", digest)
	}
	return "blobs/" + alg + "/" + hex, nil
}

// stepsFor maps layer i to the history entry that created it.
func stepsFor(cfg imageConfig, n int) []string {
	out := make([]string, n)
	i := 0
	for _, h := range cfg.History {
		if h.EmptyLayer {
			continue
		}
		if i < n {
			s := strings.TrimSpace(strings.TrimPrefix(h.CreatedBy, "/bin/sh -c #(nop) "))
			s = strings.TrimPrefix(s, "/bin/sh -c ")
			out[i] = s
		}
		i++
	}
	return out
}

// imageLayers reads manifest.json (docker save) or index.json (OCI).
func imageLayers(st blobStore) ([]imageLayer, error) {
	var dm []dockerManifest
	if err := readJSON(st, "manifest.json", &dm); err == nil && len(dm) > 0 {
		var cfg imageConfig
		if err := readJSON(st, dm[0].Config, &cfg); err != nil {
			return nil, err
		}
		steps := stepsFor(cfg, len(dm[0].Layers))
		out := make([]imageLayer, len(dm[0].Layers))
		for i, l := range dm[0].Layers {
			d := ""
			if i < len(cfg.RootFS.DiffIDs) {
				d = cfg.RootFS.DiffIDs[i]
			}
			if strings.HasPrefix(l, "blobs/") {
				parts := strings.Split(l, "/")
				if len(parts) == 3 {
					d = parts[1] + ":" + parts[2]
				}
			}
			out[i] = imageLayer{blob: l, digest: d, step: steps[i]}
		}
		return out, nil
	}
	var idx ociIndex
	if err := readJSON(st, "index.json", &idx); err != nil {
		return nil, errors.New("not an image: no manifest.json or index.json")
	}
	var out []imageLayer
	seen := map[string]bool{}
	var visit func(ds []ociDescriptor, depth int) error
	visit = func(ds []ociDescriptor, depth int) error {
		if depth > 4 {
			return errors.New("image index nested too deeply")
		}
		for _, d := range ds {
			if seen[d.Digest] {
				continue
			}
			seen[d.Digest] = true
			p, err := blobPath(d.Digest)
			if err != nil {
				return err
			}
			if strings.Contains(d.MediaType, "index") || strings.Contains(d.MediaType, "manifest.list") {
				var sub ociIndex
				if err := readJSON(st, p, &sub); err != nil {
					return err
				}
				if err := visit(sub.Manifests, depth+1); err != nil {
					return err
				}
				continue
			}
			var m ociManifest
			if err := readJSON(st, p, &m); err != nil {
				return err
			}
			var cfg imageConfig
			if cp, err := blobPath(m.Config.Digest); err == nil {
				_ = readJSON(st, cp, &cfg) // history is optional
			}
			steps := stepsFor(cfg, len(m.Layers))
			for i, l := range m.Layers {
				lp, err := blobPath(l.Digest)
				if err != nil {
					return err
				}
				if seen[l.Digest] {
					continue
				}
				seen[l.Digest] = true
				out = append(out, imageLayer{blob: lp, digest: l.Digest, step: steps[i]})
			}
		}
		return nil
	}
	if err := visit(idx.Manifests, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// ScanImage scans every layer of a container image: a docker save tarball
// or an OCI image layout directory. Files a later layer deletes are still
// found in the layer that added them; findings name the layer digest and,
// when the history has it, the Dockerfile step.
func (s *Scanner) ScanImage(ctx context.Context, name string) (*Result, error) {
	var st blobStore
	fi, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if fi.IsDir() {
		st = dirStore(name)
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		defer f.Close()
		var magic [2]byte
		if _, err := io.ReadFull(f, magic[:]); err == nil && magic == [2]byte{0x1f, 0x8b} {
			return nil, errors.New("image: compressed tarball; decompress it first (gunzip)")
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		ts, err := openTarStore(f)
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		st = ts
	}
	layers, err := imageLayers(st)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", filepath.Base(name), err)
	}
	r := s.start(ctx)
	for _, l := range layers {
		if err := s.scanLayer(r, st, l); err != nil {
			r.fail(fmt.Errorf("image layer %s: %w", l.digest, err))
			break
		}
	}
	return r.finish()
}

func (s *Scanner) scanLayer(r *run, st blobStore, l imageLayer) error {
	rc, err := st.open(l.blob)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	var rd io.Reader = br
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := newGzip(br)
		if err != nil {
			return err
		}
		defer gz.Close()
		rd = gz
	}
	tr := tar.NewReader(rd)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != typeRegA {
			continue
		}
		name := memberName(hdr.Name)
		if strings.HasPrefix(path.Base(name), ".wh.") {
			continue
		}
		if s.opts.Allow.AllowsPath(name) {
			continue
		}
		it := item{path: name, origin: Finding{Layer: l.digest, LayerStep: l.step}}
		if !s.opts.Binary && binaryExt(name) {
			r.skip(it, "binary")
			continue
		}
		s.opts.Progress.FilesTotal.Add(1)
		s.opts.Progress.BytesTotal.Add(hdr.Size)
		if hdr.Size > s.opts.MaxEntryBytes {
			r.incomplete(it, "larger than the entry limit ("+humanBytes(s.opts.MaxEntryBytes)+")")
			continue
		}
		if !r.scanStream(it, tr, hdr.Size) {
			return r.ctx.Err()
		}
	}
}
