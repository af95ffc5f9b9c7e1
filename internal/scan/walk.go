package scan

import (
	"bufio"
	"context"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// ignoreRule is one .gitignore line compiled.
type ignoreRule struct {
	re      *regexp.Regexp
	negate  bool
	dirOnly bool
}

// ignorer holds the .gitignore rules in effect for a directory; rules of
// deeper files come later and win.
type ignorer struct {
	rules []ignoreRule
}

// parseIgnore compiles gitignore lines found in directory base (a slash
// path relative to the scan root, "" for the root).
func parseIgnore(base string, data []byte) []ignoreRule {
	var out []ignoreRule
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if !strings.HasSuffix(line, `\ `) {
			line = strings.TrimRight(line, " ")
		}
		if line == "" || line[0] == '#' {
			continue
		}
		r := ignoreRule{}
		if line[0] == '!' {
			r.negate = true
			line = line[1:]
		} else if strings.HasPrefix(line, `\!`) || strings.HasPrefix(line, `\#`) {
			line = line[1:]
		}
		if strings.HasSuffix(line, "/") {
			r.dirOnly = true
			line = strings.TrimRight(line, "/")
		}
		if line == "" {
			continue
		}
		var pat string
		if strings.Contains(line, "/") {
			pat = strings.TrimPrefix(line, "/")
		} else {
			pat = "**/" + line
		}
		if base != "" {
			pat = base + "/" + pat
		}
		re, err := ignoreRegexp(pat)
		if err != nil {
			continue
		}
		r.re = re
		out = append(out, r)
	}
	return out
}

// ignoreRegexp is globRegexp without the implicit "and below" suffix: a
// directory match is applied by not descending.
func ignoreRegexp(pattern string) (*regexp.Regexp, error) {
	re, err := globRegexp(pattern)
	if err != nil {
		return nil, err
	}
	return regexp.Compile(strings.TrimSuffix(re.String(), "(?:/.*)?$") + "$")
}

func (ig *ignorer) ignored(rel string, isDir bool) bool {
	out := false
	for _, r := range ig.rules {
		if r.dirOnly && !isDir {
			continue
		}
		if r.re.MatchString(rel) {
			out = !r.negate
		}
	}
	return out
}

func (ig *ignorer) with(rules []ignoreRule) *ignorer {
	if len(rules) == 0 {
		return ig
	}
	n := &ignorer{rules: make([]ignoreRule, 0, len(ig.rules)+len(rules))}
	n.rules = append(append(n.rules, ig.rules...), rules...)
	return n
}

// ScanPaths scans files and directory trees. Directories are walked
// respecting .gitignore (unless Options.NoIgnore); .git is never entered.
// Reported paths are as given, joined with the relative path inside.
func (s *Scanner) ScanPaths(ctx context.Context, paths []string) (*Result, error) {
	r := s.start(ctx)
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			r.fail(err)
			break
		}
		if !st.IsDir() {
			s.opts.Progress.FilesTotal.Add(1)
			s.opts.Progress.BytesTotal.Add(st.Size())
			if !s.opts.Allow.AllowsPath(filepath.ToSlash(p)) {
				r.send(item{path: filepath.ToSlash(p), file: p, size: st.Size()})
			}
			continue
		}
		ig := &ignorer{}
		if !s.opts.NoIgnore {
			if b, err := os.ReadFile(filepath.Join(p, ".git", "info", "exclude")); err == nil {
				ig = ig.with(parseIgnore("", b))
			}
		}
		if !s.walk(r, p, "", ig) {
			break
		}
	}
	return r.finish()
}

// walk sends the files below root/rel; it returns false when cancelled.
func (s *Scanner) walk(r *run, root, rel string, ig *ignorer) bool {
	dir := filepath.Join(root, filepath.FromSlash(rel))
	entries, err := os.ReadDir(dir)
	if err != nil {
		r.incomplete(item{path: displayPath(root, rel)}, "cannot read directory: "+pathErr(err))
		if len(entries) == 0 {
			return true
		}
	}
	if !s.opts.NoIgnore {
		for _, e := range entries {
			if e.Name() == ".gitignore" && e.Type().IsRegular() {
				if b, err := os.ReadFile(filepath.Join(dir, ".gitignore")); err == nil {
					ig = ig.with(parseIgnore(rel, b))
				}
			}
		}
	}
	for _, e := range entries {
		name := e.Name()
		crel := path.Join(rel, name)
		isDir := e.IsDir()
		if isDir && name == ".git" {
			continue
		}
		if !s.opts.NoIgnore && ig.ignored(crel, isDir) {
			continue
		}
		if isDir {
			if !s.walk(r, root, crel, ig) {
				return false
			}
			continue
		}
		disp := displayPath(root, crel)
		if s.opts.Allow.AllowsPath(crel) || s.opts.Allow.AllowsPath(disp) {
			continue
		}
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			// Not followed: its target is outside the tree or scanned
			// where it is, and a link cannot loop the walk.
			r.skip(item{path: disp}, "symlink, not followed")
			continue
		case !e.Type().IsRegular():
			r.skip(item{path: disp}, "not a regular file")
			continue
		}
		if !s.opts.Binary && binaryExt(name) {
			r.skip(item{path: disp}, "binary")
			continue
		}
		size := int64(-1)
		if info, err := e.Info(); err == nil {
			size = info.Size()
			s.opts.Progress.FilesTotal.Add(1)
			s.opts.Progress.BytesTotal.Add(size)
		}
		if !r.send(item{path: disp, rel: crel, file: filepath.Join(dir, name), size: size}) {
			return false
		}
	}
	return true
}

func displayPath(root, rel string) string {
	if root == "." || root == "" {
		return rel
	}
	return path.Join(filepath.ToSlash(root), rel)
}

var binaryExts = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".bmp": true, ".ico": true, ".webp": true,
	".tif": true, ".tiff": true, ".psd": true, ".pdf": true, ".woff": true, ".woff2": true, ".ttf": true,
	".otf": true, ".eot": true, ".exe": true, ".dll": true, ".so": true, ".dylib": true, ".o": true,
	".a": true, ".class": true, ".pyc": true, ".mp3": true, ".mp4": true, ".mov": true, ".avi": true,
	".wav": true, ".flac": true, ".ogg": true, ".iso": true, ".dmg": true, ".wasm": true,
}

func binaryExt(name string) bool { return binaryExts[strings.ToLower(filepath.Ext(name))] }
