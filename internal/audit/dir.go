package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Where audit files may live. Whoever may enable a device (sudo on
// sys/audit) names its file, and an audit line carries request paths that
// anonymous clients choose, so a file device must not become a way to
// append to, or create, a file the server can write: a script, a crontab,
// the configuration, a TLS key. The rules:
//
//   - A file lives inside the audit directory (Options.Dir), which is
//     never the root, a system directory, or a directory that is or holds
//     a protected path (the storage directory, configuration, TLS files).
//   - Its path has no "..", no hidden component, and no symbolic link
//     between the directory and the file; the file itself is no link. The
//     file is opened through an os.Root of the directory, so a link
//     planted after the check still cannot lead outside.
//   - A missing file is created exclusively (O_EXCL, O_NOFOLLOW) with the
//     device's mode, and starts with a signed open checkpoint naming the
//     device. An existing file is written only if it is empty or a log of
//     this device (see isLogOf), a regular file with one link, owned by
//     the server's user, with no permission beyond the device's mode: the
//     server never changes the mode of a file it did not create.
//
// Rotation (SIGHUP) and recovery after a failed write reopen through the
// same path, so they follow the same rules.

// systemDirs hold what the system executes or parses, or no files at all:
// neither the audit directory nor an audit file may be inside one.
var systemDirs = []string{
	"/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run",
	"/sbin", "/sys", "/usr", "/var/at", "/var/cron", "/var/spool",
}

// Check reports why the audit directory is refused, or nil (also when no
// directory is set: file devices are then refused one by one). A
// directory that does not exist yet passes if its path does: the caller
// creates it, then checks again.
func (o Options) Check() error {
	if o.Dir == "" {
		return nil
	}
	_, err := o.resolveDir(false)
	return err
}

// dir returns the audit directory with its symbolic links resolved, or why
// it is refused.
func (o Options) dir() (string, error) { return o.resolveDir(true) }

func (o Options) resolveDir(mustExist bool) (string, error) {
	if o.Dir == "" {
		return "", errors.New("the server has no audit directory (set audit { dir = \"...\" } in its configuration)")
	}
	if !filepath.IsAbs(o.Dir) {
		return "", fmt.Errorf("the audit directory %q must be an absolute path", o.Dir)
	}
	d := filepath.Clean(o.Dir)
	if err := o.dirAllowed(d); err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(d)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		return d, nil
	}
	if errors.Is(err, fs.ErrNotExist) && o.CreateDir {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create the audit directory %s: %w", d, err)
		}
		real, err = filepath.EvalSymlinks(d)
	}
	if err != nil {
		return "", fmt.Errorf("the audit directory %s cannot be used: %w", d, err)
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("the audit directory %s is not a directory", d)
	}
	if real != d {
		if err := o.dirAllowed(real); err != nil {
			return "", err
		}
	}
	return real, nil
}

func (o Options) dirAllowed(d string) error {
	if d == "/" {
		return errors.New("the audit directory must not be /")
	}
	if s := systemDir(d); s != "" {
		return fmt.Errorf("the audit directory %s is inside %s, a system directory", o.Dir, s)
	}
	for _, p := range o.protected() {
		if within(p, d) {
			return fmt.Errorf("the audit directory %s is or holds %s, which the server protects (storage, configuration and TLS files): use a dedicated directory", o.Dir, p)
		}
	}
	return nil
}

// protected returns each protected path cleaned and, when it exists,
// resolved.
func (o Options) protected() []string {
	var out []string
	for _, p := range o.Protected {
		if p == "" {
			continue
		}
		if abs, err := filepath.Abs(p); err == nil {
			out = append(out, abs)
		}
		if r, err := filepath.EvalSymlinks(p); err == nil {
			if abs, err := filepath.Abs(r); err == nil {
				out = append(out, abs)
			}
		}
	}
	return out
}

// place checks an absolute, clean file path against the rules above and
// returns the resolved audit directory and the path inside it.
func (o Options) place(p string) (dir, rel string, err error) {
	dir, err = o.dir()
	if err != nil {
		return "", "", err
	}
	rel, ok := relWithin(filepath.Clean(o.Dir), p)
	if !ok {
		rel, ok = relWithin(dir, p)
	}
	if !ok || rel == "." {
		return "", "", fmt.Errorf("audit files must be inside the audit directory %s", o.Dir)
	}
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		if strings.HasPrefix(part, ".") {
			return "", "", errors.New("hidden file and directory names are not allowed")
		}
	}
	parent := filepath.Join(dir, filepath.Dir(rel))
	switch real, err := filepath.EvalSymlinks(parent); {
	case err != nil:
		return "", "", fmt.Errorf("its directory %s does not exist", filepath.Dir(p))
	case real != parent:
		return "", "", errors.New("its directory is reached through a symbolic link")
	}
	full := filepath.Join(dir, rel)
	if fi, err := os.Lstat(full); err == nil {
		if fi.Mode()&os.ModeSymlink != 0 {
			return "", "", errors.New("it is a symbolic link")
		}
		if !fi.Mode().IsRegular() {
			return "", "", errors.New("it is not a regular file")
		}
		for _, pp := range o.Protected {
			if pi, err := os.Stat(pp); err == nil && os.SameFile(fi, pi) {
				return "", "", errors.New("it is a file the server protects")
			}
		}
	}
	if s := systemDir(full); s != "" {
		return "", "", fmt.Errorf("it is inside %s, a system directory", s)
	}
	for _, pp := range o.protected() {
		if pp == full || pp == p {
			return "", "", errors.New("it is a file the server protects")
		}
	}
	return dir, rel, nil
}

func systemDir(p string) string {
	for _, s := range systemDirs {
		if within(p, s) {
			return s
		}
	}
	return ""
}

// relWithin returns p relative to dir if p is dir or inside it.
func relWithin(dir, p string) (string, bool) {
	rel, err := filepath.Rel(dir, p)
	if err != nil || !filepath.IsLocal(rel) {
		return "", false
	}
	return rel, true
}

func within(p, dir string) bool {
	_, ok := relWithin(dir, p)
	return ok
}
