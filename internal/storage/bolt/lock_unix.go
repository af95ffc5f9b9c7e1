//go:build unix

package bolt

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// noFollow makes opening the store file fail on a symlink.
const noFollow = syscall.O_NOFOLLOW

// lockFile takes an exclusive flock on f, retrying until timeout. The lock
// is held before the file is verified, so a concurrent writer can never be
// mistaken for corruption.
func lockFile(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("lock file: %w", err)
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w (waited %v)", ErrLocked, timeout)
		}
		time.Sleep(min(50*time.Millisecond, time.Until(deadline)+time.Millisecond))
	}
}
