//go:build !windows

package node

import (
	"os"
	"syscall"
)

// privateDir reports whether d is a real directory (no symlink) owned by
// this user that nobody else may enter.
func privateDir(d string) bool {
	fi, err := os.Lstat(d)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}
