package audit

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// openFlags: Windows has no O_NOFOLLOW, O_NONBLOCK or O_CLOEXEC. Handles
// are not inherited by children unless asked for, a FIFO cannot be
// planted at a file path, and a link is refused by openedNoLink (Lstat
// before the open, in open, and again after it).
const openFlags = os.O_RDWR | os.O_APPEND

// openedNoLink refuses the opened file if the name is now a link or names
// another file than the one opened: the Lstat before the open and this one
// after it close the window in which a link could have been swapped in.
func openedNoLink(root *os.Root, rel string, f *os.File) error {
	li, err := root.Lstat(rel)
	if err != nil {
		return err
	}
	if li.Mode()&os.ModeSymlink != 0 || li.Mode()&os.ModeIrregular != 0 {
		return errors.New("it is a symbolic link or reparse point")
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !os.SameFile(li, fi) {
		return errors.New("it was replaced while it was opened")
	}
	return nil
}

// acceptOwner refuses an existing log with other hard links. Windows has
// no owner uid or mode bits to compare (access is the ACL the file
// inherits from the audit directory; docs/install.md says so), so only
// the link count is checked.
func acceptOwner(f *os.File, _ fs.FileInfo, _ fs.FileMode) error {
	var info syscall.ByHandleFileInformation
	if err := syscall.GetFileInformationByHandle(syscall.Handle(f.Fd()), &info); err != nil {
		return err
	}
	if info.NumberOfLinks != 1 {
		return errors.New("it has other hard links")
	}
	return nil
}
