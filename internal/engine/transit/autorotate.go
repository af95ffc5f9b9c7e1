package transit

import (
	"context"
	"time"
)

// maxRotateWait bounds the rotation loop's sleep, so a clock jump or a
// key restored with a past-due period is seen within the hour.
const maxRotateWait = time.Hour

// rotationLoop is the engine's one background goroutine: it rotates keys
// whose latest version is older than their auto_rotate_period and sleeps
// until the next is due. The core builds backends only on the active node
// and cleans them up when it stops being active, so only the active node
// rotates.
func (b *backend) rotationLoop() {
	defer b.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-timer.C:
		case <-b.kick:
		}
		timer.Reset(b.rotateDue(b.ctx))
	}
}

// poke wakes the rotation loop after a key's period may have changed.
func (b *backend) poke() {
	if b.kick == nil {
		return
	}
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// rotateDue rotates every key past its auto_rotate_period (by b.now) and
// returns how long until the next one is due. A failure leaves the key for
// the next pass; the engine logs nothing, so errors end the pass quietly.
func (b *backend) rotateDue(ctx context.Context) time.Duration {
	wait := maxRotateWait
	names, err := b.view.List(ctx, keyPrefix)
	if err != nil {
		return time.Minute
	}
	for _, name := range names {
		next, err := b.rotateIfDue(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return maxRotateWait
			}
			wait = min(wait, time.Minute)
			continue
		}
		if next > 0 {
			wait = min(wait, next)
		}
	}
	return max(wait, time.Second)
}

// rotateIfDue rotates key name if its period has passed and returns the
// time until it is next due (0: never).
func (b *backend) rotateIfDue(ctx context.Context, name string) (time.Duration, error) {
	defer b.lock(name)()
	k, err := loadKey(ctx, b.view, name)
	if err != nil || k == nil || k.AutoRotatePeriod <= 0 || (k.Imported && !k.AllowRotation) {
		return 0, err
	}
	period := time.Duration(k.AutoRotatePeriod) * time.Second
	now := b.now()
	due := k.latestCreated().Add(period)
	if now.Before(due) {
		return due.Sub(now), nil
	}
	if err := k.rotate(now); err != nil {
		return 0, err
	}
	if err := storeKey(ctx, b.view, k); err != nil {
		return 0, err
	}
	return period, nil
}
