//go:build !windows

package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openFlags never follow a link, and never block on a FIFO planted at the
// path (it is refused once opened).
const openFlags = os.O_RDWR | os.O_APPEND | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC

// openedNoLink has nothing to check here: O_NOFOLLOW already refused a
// link at open.
func openedNoLink(*os.Root, string, *os.File) error { return nil }

// acceptOwner refuses an existing log with other hard links, another
// owner, or a mode wider than the device's.
func acceptOwner(_ *os.File, fi fs.FileInfo, mode fs.FileMode) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if st.Nlink != 1 {
			return errors.New("it has other hard links")
		}
		if int(st.Uid) != os.Geteuid() {
			return errors.New("it is owned by another user")
		}
	}
	if perm := fi.Mode().Perm(); perm&^mode != 0 {
		return fmt.Errorf("its mode %04o is wider than the device's %04o, and the server does not change the mode of a file it did not create", perm, mode)
	}
	return nil
}
