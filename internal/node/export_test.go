package node

import "time"

// SetMinAutoSnapshotInterval lowers the shortest automated snapshot
// interval for a test and returns what restores it.
func SetMinAutoSnapshotInterval(d time.Duration) (restore func()) {
	old := minAutoInterval
	minAutoInterval = d
	return func() { minAutoInterval = old }
}
