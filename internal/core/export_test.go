package core

import (
	"context"
	"time"
)

// CheckKeyringRotation runs one automatic rotation check now.
func (c *Core) CheckKeyringRotation(ctx context.Context) (bool, error) {
	return c.checkKeyringRotation(ctx)
}

// SetRotationMinimums lowers the bounds sys/rotate/config accepts, so a
// test can reach max_operations in a few writes.
func (c *Core) SetRotationMinimums(operations int64, interval time.Duration) {
	c.rotationLimits = rotationLimits{minOperations: operations, minInterval: interval}
}
