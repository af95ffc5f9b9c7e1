package core_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage/inmem"
)

// testLock is an HA lock the test takes away and gives back: Acquire gets
// it at once, except after lose, when it waits for grant.
type testLock struct {
	mu      sync.Mutex
	lost    chan struct{}
	grant   chan struct{}
	blocked bool
}

func newTestLock() *testLock { return &testLock{grant: make(chan struct{}, 1)} }

func (l *testLock) Acquire(ctx context.Context) (<-chan struct{}, error) {
	l.mu.Lock()
	blocked := l.blocked
	l.mu.Unlock()
	if blocked {
		select {
		case <-l.grant:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.blocked = false
	l.lost = make(chan struct{})
	return l.lost, nil
}

// lose takes the lock from its holder.
func (l *testLock) lose() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.blocked = true
	close(l.lost)
}

func (l *testLock) Release(context.Context) error { return nil }
func (l *testLock) Fence(context.Context) error   { return nil }

// statusService is a sys/ service whose background work keeps asking the
// core whether it is sealed or a standby, as raft's autopilot does; Close
// waits for that work to end.
type statusService struct {
	*logical.Router
	done chan struct{}
	wg   sync.WaitGroup
}

func (s *statusService) Close() error {
	close(s.done)
	s.wg.Wait()
	return nil
}

// TestLostLockWithServiceAskingStatus: a node that loses the HA lock while
// one of its active services is asking Sealed and Standby stands by. The
// teardown holds the state lock and waits for the service to end, so
// those two must never take the state lock (a node once froze this way
// for good after a SIGSTOP, serving nothing).
func TestLostLockWithServiceAskingStatus(t *testing.T) {
	lock := newTestLock()
	var c *core.Core
	var ready sync.WaitGroup
	ready.Add(1)
	svc := core.Service{Name: "status asker", Paths: []string{"status-asker"},
		New: func(ctx context.Context, env core.ServiceEnv) (core.ServiceBackend, error) {
			s := &statusService{Router: logical.NewRouter("asks the core's status"), done: make(chan struct{})}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				ready.Wait() // c is set
				for {
					select {
					case <-s.done:
						return
					default:
					}
					_ = c.Sealed()
					_ = c.Standby()
				}
			}()
			return s, nil
		}}
	cfg := withKV(core.Config{Storage: inmem.New(), HA: lock, Services: []core.Service{svc}})
	var err error
	c, err = core.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ready.Done()
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	res, err := c.Initialize(ctx, core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Unseal(ctx, res.Shares); err != nil {
		t.Fatal(err)
	}
	clocktest.Eventually(t, "the node to become active", func() bool {
		_, self, ok := c.Leader(ctx)
		return ok && self
	})
	lock.lose()
	stood := make(chan struct{})
	go func() {
		defer close(stood)
		for {
			if _, self, ok := c.Leader(ctx); ok && !self {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	select {
	case <-stood:
	case <-time.After(clocktest.Wait):
		t.Fatal("the node never stood by after losing the lock: the teardown deadlocked with a service asking the core's status")
	}
	if !c.Standby() || c.Sealed() {
		t.Fatalf("after the loss: standby %v, sealed %v", c.Standby(), c.Sealed())
	}
	// It becomes active again when the lock comes back.
	lock.grant <- struct{}{}
	clocktest.Eventually(t, "the node to become active again", func() bool {
		_, self, ok := c.Leader(ctx)
		return ok && self
	})
}
