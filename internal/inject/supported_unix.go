//go:build !windows

package inject

// Supported reports whether Run can start a child with its protections on
// this platform: on Unix it always can.
func Supported() error { return nil }
