package core_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/storage/faulty"
	"github.com/keyward/keyward/internal/storage/inmem"
)

// leaser is a leased engine for tests: a read of creds issues a lease, and
// revocations are counted by the mount path they reached.
type leaser struct {
	mu      sync.Mutex
	revoked map[string]int
}

func (l *leaser) factory(context.Context, *logical.BackendConfig) (logical.Backend, error) {
	return l, nil
}

func (l *leaser) HandleRequest(_ context.Context, req *logical.Request) (*logical.Response, error) {
	if req.Path != "creds" || req.Operation != logical.ReadOperation {
		return nil, logical.ErrUnsupportedPath
	}
	u := rand.Text()
	return &logical.Response{Data: map[string]any{"user": u},
		Secret: &logical.Secret{TTL: time.Hour, Renewable: true, InternalData: map[string]any{"user": u}}}, nil
}

func (l *leaser) Revoke(_ context.Context, req *logical.Request, _ *logical.Secret) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.revoked[req.MountPoint]++
	return nil
}

func (l *leaser) Renew(_ context.Context, _ *logical.Request, s *logical.Secret) (*logical.Secret, error) {
	return s, nil
}

func (l *leaser) count(mount string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.revoked[mount]
}

func startLeasing(t *testing.T, fb *faulty.Backend, l *leaser) (*core.Core, string, []sensitive.Bytes) {
	t.Helper()
	return startCore(t, core.Config{Storage: fb, Services: []core.Service{leaseService()},
		Engines: map[string]logical.Factory{"leaser": l.factory}})
}

func leaseKeys(t *testing.T, c *core.Core, root, prefix string) int {
	t.Helper()
	resp, err := call(t, c, root, logical.ListOperation, "sys/leases/lookup/"+prefix, nil)
	if err != nil {
		t.Fatalf("list leases under %s: %v", prefix, err)
	}
	if resp == nil {
		return 0
	}
	keys, _ := resp.Data["keys"].([]string)
	return len(keys)
}

// A move interrupted by a failing disk after any number of bytes written
// leaves one consistent state after a restart: the mount at its old path
// with its leases there, or at its new path with every lease moved (the
// unseal finishes the lease move). Either way every lease is revocable at
// the mount's path and the revocation reaches the engine there.
func TestRemountSurvivesInterruptionAnywhere(t *testing.T) {
	for budget := int64(0); ; budget += 64 {
		l := &leaser{revoked: map[string]int{}}
		fb := faulty.New(inmem.New())
		c, root, shares := startLeasing(t, fb, l)
		mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/dyn", map[string]any{"type": "leaser"})
		var ids []string
		for range 3 {
			ids = append(ids, mustCall(t, c, root, logical.ReadOperation, "dyn/creds", nil).Secret.LeaseID)
		}
		fb.FailAfter(budget, syscall.EIO)
		_, err := call(t, c, root, logical.UpdateOperation, "sys/remount", map[string]any{"from": "dyn", "to": "dyn2"})
		fb.Recover()
		if err != nil {
			c.Seal()
			if err := c.Unseal(context.Background(), shares); err != nil {
				t.Fatal(err)
			}
		}
		at := "dyn2/"
		if resp, _ := call(t, c, root, logical.ReadOperation, "sys/mounts/dyn", nil); resp != nil {
			at = "dyn/"
		}
		if err == nil && at != "dyn2/" {
			t.Fatalf("budget %d: the move succeeded but the mount is at %s", budget, at)
		}
		other := map[string]string{"dyn/": "dyn2/", "dyn2/": "dyn/"}[at]
		if n, m := leaseKeys(t, c, root, at+"creds/"), leaseKeys(t, c, root, other); n != 3 || m != 0 {
			t.Fatalf("budget %d: mount at %s has %d leases there, %d at %s", budget, at, n, m, other)
		}
		for _, id := range ids {
			resp := mustCall(t, c, root, logical.UpdateOperation, "sys/leases/lookup", map[string]any{"lease_id": id})
			if got, _ := resp.Data["id"].(string); !strings.HasPrefix(got, at) {
				t.Fatalf("budget %d: lookup(%s) = %v, want the lease under %s", budget, id, resp.Data, at)
			}
		}
		mustCall(t, c, root, logical.UpdateOperation, "sys/leases/revoke-prefix/"+at, nil)
		if l.count(at) != 3 || l.count(other) != 0 {
			t.Fatalf("budget %d: revocations reached %s %d times, %s %d times", budget, at, l.count(at), other, l.count(other))
		}
		if err == nil {
			if budget == 0 {
				t.Fatal("the move wrote nothing")
			}
			return
		}
	}
}

// Requests racing a move either finish before it (the move waits for
// them), or are refused (503, or 404 once nothing is at the old path), or
// reach the new path: no lease is ever left under the old path.
func TestRemountRacingRequestsLeaveNoLeaseBehind(t *testing.T) {
	l := &leaser{revoked: map[string]int{}}
	c, root, _ := startLeasing(t, faulty.New(inmem.New()), l)
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/dyn", map[string]any{"type": "leaser"})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var issued []string
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				path := []string{"dyn/creds", "dyn2/creds"}[i%2]
				resp, err := call(t, c, root, logical.ReadOperation, path, nil)
				switch {
				case err == nil:
					mu.Lock()
					issued = append(issued, resp.Secret.LeaseID)
					mu.Unlock()
				case statusOf(err) != http.StatusServiceUnavailable && statusOf(err) != http.StatusNotFound:
					t.Errorf("read %s during a move: %v", path, err)
				}
			}
		}()
	}
	mustCall(t, c, root, logical.UpdateOperation, "sys/remount", map[string]any{"from": "dyn", "to": "dyn2"})
	close(stop)
	wg.Wait()
	n := len(issued)
	for _, id := range issued {
		resp := mustCall(t, c, root, logical.UpdateOperation, "sys/leases/lookup", map[string]any{"lease_id": id})
		if got, _ := resp.Data["id"].(string); !strings.HasPrefix(got, "dyn2/") {
			t.Errorf("lease %s issued during the move is at %v", id, resp.Data["id"])
		}
	}
	if left := leaseKeys(t, c, root, "dyn/"); left != 0 {
		t.Fatalf("%d leases left under the old path", left)
	}
	if got := leaseKeys(t, c, root, "dyn2/creds/"); got != n {
		t.Fatalf("%d leases under the new path, %d issued", got, n)
	}
}

func TestRemountStatusOfUnknownMigration(t *testing.T) {
	c, root := newCore(t, nil)
	if resp, err := call(t, c, root, logical.ReadOperation, "sys/remount/status/no-such-id", nil); resp != nil || err != nil {
		t.Fatalf("status of an unknown migration = %v, %v; want 404", resp, err)
	}
	if _, err := call(t, c, root, logical.ReadOperation, "sys/remount", nil); err == nil {
		t.Fatal("GET sys/remount succeeded")
	}
	if _, err := call(t, c, root, logical.UpdateOperation, "sys/remount", map[string]any{"from": 1, "to": "x"}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("non-string from = %v, want 400", err)
	}
}

// Disabling an engine revokes its leases through it first, so none is left
// to be revoked later at whatever is mounted at that path next; a mount
// whose leases cannot be revoked stays mounted.
func TestDisableRevokesLeases(t *testing.T) {
	l := &leaser{revoked: map[string]int{}}
	fb := faulty.New(inmem.New())
	c, root, _ := startLeasing(t, fb, l)
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/dyn", map[string]any{"type": "leaser"})
	for range 3 {
		mustCall(t, c, root, logical.ReadOperation, "dyn/creds", nil)
	}
	mustCall(t, c, root, logical.DeleteOperation, "sys/mounts/dyn", nil)
	if n := l.count("dyn/"); n != 3 {
		t.Fatalf("disable revoked %d leases through the engine, want 3", n)
	}
	if n := leaseKeys(t, c, root, "dyn/"); n != 0 {
		t.Fatalf("%d leases left under dyn/ after disable", n)
	}
	// A new mount at the same path never receives the old leases.
	mustCall(t, c, root, logical.UpdateOperation, "sys/mounts/dyn", map[string]any{"type": "leaser"})
	if n := l.count("dyn/"); n != 3 {
		t.Fatalf("the new mount received %d revocations", n-3)
	}
}
