//go:build linux

package memlock

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func lock() error {
	if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE); err != nil {
		return fmt.Errorf("memlock: mlockall: %w", err)
	}
	return nil
}
