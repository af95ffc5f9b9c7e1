//go:build !windows

package inject

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// CleanStale removes secrets directories left in root by a keyward that
// died without cleaning up (kill -9): directories named
// keyward-run-<pid>-<random>, owned by the current user, whose pid is no
// longer running. An empty root means every default root. A directory whose
// pid was reused by another process is kept until that process exits.
func CleanStale(root string) error {
	var errs []error
	for _, r := range secretsRoots(root, os.Environ()) {
		entries, err := os.ReadDir(r)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			if pid, ok := stalePID(e.Name()); ok && !alive(pid) {
				if err := removeOwnDir(filepath.Join(r, e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("inject: clean stale secrets directories: %w", errors.Join(errs...))
	}
	return nil
}

func stalePID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, dirPrefix)
	if !ok {
		return 0, false
	}
	p, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	return pid, err == nil && pid > 0
}

func alive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func removeOwnDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() {
		return nil
	}
	return os.RemoveAll(dir)
}
