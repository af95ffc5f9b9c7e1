package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/logical"
)

// HA is the lock that makes one of several cores over the same storage
// (raft, or PostgreSQL with ha_enabled) the active one. A core with an HA
// lock unseals into standby and becomes active only while it holds it.
type HA interface {
	// Acquire blocks until this node holds the lock or ctx ends. The
	// channel is closed when the node loses the lock: it must stop acting
	// as active at once.
	Acquire(ctx context.Context) (lost <-chan struct{}, err error)
	// Release gives the lock up (after a loss, or to step down).
	Release(ctx context.Context) error
	// Fence returns nil only while this node certainly still holds the
	// lock; the core checks it before serving each request as active.
	Fence(ctx context.Context) error
}

// ErrStandby is returned for a request that reached a standby node: the
// HTTP layer forwards such requests to the active node before they get
// here, so this is a race with a failover, and the client may retry.
var ErrStandby = logical.Errorf(http.StatusServiceUnavailable, "this node is a standby and the request could not be forwarded to the active node; retry")

// errLostLock is a request refused because the node stopped being active.
var errLostLock = logical.Errorf(http.StatusServiceUnavailable, "this node is no longer the active node; retry")

// leaderPath holds the active node's advertisement.
const leaderPath = "core/leader"

// Advertisement is what the active node writes when it becomes active, so
// that standbys can name it (sys/leader) and redirect to it.
type Advertisement struct {
	NodeID      string    `json:"node_id"`
	APIAddr     string    `json:"api_addr"`
	ClusterAddr string    `json:"cluster_addr"`
	ActiveTime  time.Time `json:"active_time"`
}

// haRun is one unsealed lifetime's standby/active loop.
type haRun struct {
	cancel   context.CancelFunc
	done     chan struct{}
	stepDown chan struct{}
	reload   chan struct{}
}

// startHA starts the standby/active loop; stateLock is held for writing
// and the barrier is unsealed.
func (c *Core) startHA() {
	ctx, cancel := context.WithCancel(context.Background())
	r := &haRun{cancel: cancel, done: make(chan struct{}), stepDown: make(chan struct{}, 1), reload: make(chan struct{}, 1)}
	c.ha = r
	c.haRunning.Store(true)
	go func() {
		defer close(r.done)
		c.runHA(ctx, r)
	}()
}

// stopHA ends the loop and waits for it; stateLock must not be held.
func (c *Core) stopHA() {
	c.stateLock.RLock()
	r := c.ha
	c.stateLock.RUnlock()
	if r == nil {
		return
	}
	r.cancel()
	<-r.done
}

// runHA is the standby/active loop: wait for the lock, become active,
// serve until the lock is lost (or a step-down, or the seal), stand by
// again.
func (c *Core) runHA(ctx context.Context, r *haRun) {
	ha := c.cfg.HA
	for ctx.Err() == nil {
		lost, err := ha.Acquire(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.logger.Warn("waiting for the active lock failed; retrying", "err", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		c.stateLock.Lock()
		if ctx.Err() != nil {
			c.stateLock.Unlock()
			ha.Release(context.Background())
			return
		}
		// The active node may have rotated the keyring while this one
		// stood by.
		err = c.barrier.Reload(ctx)
		if err == nil {
			err = c.postUnseal(ctx)
		}
		if err == nil {
			err = c.advertise(ctx)
			if err != nil {
				c.teardownActive()
			}
		}
		c.stateLock.Unlock()
		if err != nil {
			c.logger.Error("becoming the active node failed; standing by", "err", err)
			ha.Release(context.Background())
			sleepCtx(ctx, time.Second)
			continue
		}
		c.logger.Info("active: this node holds the active lock")
		stepped := c.serveActive(ctx, r, lost)
		c.stateLock.Lock()
		c.teardownActive()
		c.stateLock.Unlock()
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := ha.Release(rctx); err != nil {
			c.logger.Warn("releasing the active lock", "err", err)
		}
		cancel()
		if stepped {
			// Let another node take the lock first.
			sleepCtx(ctx, stepDownPause)
		}
	}
}

// serveActive waits while the node is active: until the lock is lost, a
// step-down (true) or the seal, rebuilding the active state when asked
// (after a snapshot restore replaced the data under it).
func (c *Core) serveActive(ctx context.Context, r *haRun, lost <-chan struct{}) (stepped bool) {
	for {
		select {
		case <-lost:
			c.logger.Warn("lost the active lock: standing by")
			return false
		case <-r.stepDown:
			c.logger.Info("stepping down")
			return true
		case <-r.reload:
			c.stateLock.Lock()
			c.teardownActive()
			err := c.barrier.Reload(ctx)
			if err == nil {
				err = c.postUnseal(ctx)
			}
			c.stateLock.Unlock()
			if err != nil {
				c.logger.Error("reloading the active state failed; standing by", "err", err)
				return true
			}
			c.logger.Info("active state reloaded from storage")
		case <-ctx.Done():
			return false
		}
	}
}

// stepDownPause is how long a node that stepped down waits before it seeks
// the lock again.
var stepDownPause = 2 * time.Second

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// teardownActive drops the active state but keeps the barrier unsealed;
// stateLock is held for writing.
func (c *Core) teardownActive() {
	if a := c.active; a != nil {
		a.cancel()
		a.wg.Wait()
		c.passwords.Store(nil)
		a.closeServices(c.logger)
		a.mounts.cleanup(context.Background())
		c.active = nil
		c.isActive.Store(false)
	}
}

// advertise records this node as the active one.
func (c *Core) advertise(ctx context.Context) error {
	ad := Advertisement{NodeID: c.cfg.NodeID, APIAddr: c.cfg.APIAddr, ClusterAddr: c.cfg.ClusterAddr, ActiveTime: c.now().UTC()}
	b, err := json.Marshal(ad)
	if err != nil {
		return err
	}
	if err := c.barrier.Put(ctx, leaderPath, b); err != nil {
		return fmt.Errorf("advertise the active node: %w", err)
	}
	c.activeSince.Store(&ad)
	return nil
}

// Standby reports whether the core is unsealed but not active. It never
// takes stateLock (see Core.isActive).
func (c *Core) Standby() bool {
	return c.haRunning.Load() && !c.isActive.Load() && !c.barrier.Sealed()
}

// HAEnabled reports whether the core runs with an HA lock.
func (c *Core) HAEnabled() bool { return c.cfg.HA != nil }

// Leader returns the active node's advertisement as this node knows it,
// and whether this node is the active one. ok is false while sealed or
// when no active node has advertised.
func (c *Core) Leader(ctx context.Context) (ad Advertisement, self, ok bool) {
	c.stateLock.RLock()
	active := c.active != nil
	sealed := c.barrier.Sealed()
	c.stateLock.RUnlock()
	if sealed {
		return Advertisement{}, false, false
	}
	if active || c.cfg.HA == nil {
		if p := c.activeSince.Load(); p != nil && active {
			return *p, true, true
		}
		return Advertisement{NodeID: c.cfg.NodeID, APIAddr: c.cfg.APIAddr, ClusterAddr: c.cfg.ClusterAddr}, true, true
	}
	raw, err := c.barrier.Get(ctx, leaderPath)
	if err != nil && c.barrier.Reload(ctx) == nil {
		// Written under a keyring term this standby has not loaded yet.
		raw, err = c.barrier.Get(ctx, leaderPath)
	}
	if err != nil || raw == nil {
		return Advertisement{}, false, false
	}
	if err := json.Unmarshal(raw, &ad); err != nil {
		return Advertisement{}, false, false
	}
	return ad, false, true
}

// StepDown makes the active node give up the lock; it fails on a node
// that is not active.
func (c *Core) StepDown() error {
	c.stateLock.RLock()
	defer c.stateLock.RUnlock()
	return c.stepDownLocked()
}

// stepDownLocked is StepDown for the request path, which holds stateLock
// for reading already (a second read lock could deadlock behind a waiting
// writer).
func (c *Core) stepDownLocked() error {
	if c.ha == nil {
		return logical.BadRequest("step-down needs an HA storage backend (raft, or postgresql with ha_enabled)")
	}
	if c.active == nil {
		return ErrStandby
	}
	select {
	case c.ha.stepDown <- struct{}{}:
	default:
	}
	return nil
}

// Barrier returns the core's barrier, for the node's cluster wiring (join
// challenges, the cluster CA): it is sealed whenever the core is.
func (c *Core) Barrier() *barrier.Barrier { return c.barrier }

// fence refuses a request on a node that can no longer prove it holds the
// active lock.
func (c *Core) fence(ctx context.Context) error {
	if c.cfg.HA == nil {
		return nil
	}
	if err := c.cfg.HA.Fence(ctx); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return errLostLock
	}
	return nil
}
