//go:build !linux

package hostinfo

import (
	"os"
	"runtime"
)

// collect reports what the standard library knows: the host name, OS and
// architecture.
func collect(info *Info) {
	h := &Host{OS: runtime.GOOS, KernelArch: runtime.GOARCH}
	h.Hostname, _ = os.Hostname()
	info.Host = h
	info.Warnings = append(info.Warnings, "cpu, disk and memory statistics are only collected on Linux")
}
