//go:build !unix

package bolt

import (
	"os"
	"time"
)

// noFollow is not available here; symlinks are followed.
const noFollow = 0

// lockFile leaves locking to bbolt, which waits up to the same timeout
// before the file is mapped.
func lockFile(*os.File, time.Duration) error { return nil }
