//go:build !linux

package memlock

func lock() error { return ErrUnsupported }
