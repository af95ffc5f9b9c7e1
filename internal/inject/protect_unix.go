//go:build !windows

package inject

import "syscall"

func limitCore() error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &l); err != nil {
		return err
	}
	if l.Cur == 0 {
		return nil
	}
	l.Cur = 0
	return syscall.Setrlimit(syscall.RLIMIT_CORE, &l)
}
