package raft_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/raft"
)

// newCA returns a fresh cluster CA.
func newCA(t testing.TB) *raft.CA {
	t.Helper()
	ca, err := raft.NewCA("keyward test cluster", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// nodeTLS issues a node certificate from ca and returns its configuration.
func nodeTLS(t testing.TB, ca *raft.CA, id string) *tls.Config {
	t.Helper()
	cert, err := ca.Issue(id, time.Hour, net.IPv4(127, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	return raft.NodeTLS(ca.Pool(), cert)
}

// testConfig is a node configuration with timeouts short enough for tests
// (production keeps the multiplier-derived ones).
func testConfig(t testing.TB, ca *raft.CA, id, dir, addr string) raft.Config {
	return raft.Config{
		Dir:                dir,
		NodeID:             id,
		BindAddr:           addr,
		TLS:                nodeTLS(t, ca, id),
		HeartbeatTimeout:   300 * time.Millisecond,
		ElectionTimeout:    300 * time.Millisecond,
		LeaderLeaseTimeout: 150 * time.Millisecond,
	}
}

// openNode opens a node; the test closes it at cleanup (Close is idempotent).
func openNode(t testing.TB, cfg raft.Config) *raft.Store {
	t.Helper()
	s, err := raft.Open(cfg)
	if err != nil {
		t.Fatalf("Open(%s) = %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// singleNode opens and bootstraps a one-node cluster and waits for it to lead.
func singleNode(t testing.TB) *raft.Store {
	t.Helper()
	s := openNode(t, testConfig(t, newCA(t), "n1", t.TempDir(), "127.0.0.1:0"))
	if err := s.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	clocktest.Eventually(t, "the single node to lead", s.IsLeader)
	return s
}

// cluster is a set of nodes with one CA, their configurations kept for restarts.
type cluster struct {
	ca    *raft.CA
	nodes []*raft.Store
	cfgs  []raft.Config
}

// newCluster starts n voters: the first bootstraps, the others join it.
func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	c := &cluster{ca: newCA(t)}
	for i := range n {
		id := fmt.Sprintf("n%d", i+1)
		cfg := testConfig(t, c.ca, id, filepath.Join(t.TempDir(), id), "127.0.0.1:0")
		s := openNode(t, cfg)
		cfg.BindAddr = s.Addr() // a restart reuses the port
		c.nodes = append(c.nodes, s)
		c.cfgs = append(c.cfgs, cfg)
	}
	if err := c.nodes[0].Bootstrap(); err != nil {
		t.Fatal(err)
	}
	clocktest.Eventually(t, "the first node to lead", c.nodes[0].IsLeader)
	for _, s := range c.nodes[1:] {
		clocktest.Eventually(t, "adding "+s.ID(), func() bool {
			return c.leader(t).AddVoter(s.ID(), s.Addr()) == nil
		})
	}
	for _, s := range c.nodes {
		clocktest.Eventually(t, s.ID()+" to know the leader", func() bool {
			id, _ := s.Leader()
			return id != ""
		})
	}
	return c
}

// leader waits for one of the open nodes to lead and returns it.
func (c *cluster) leader(t testing.TB) *raft.Store {
	t.Helper()
	var l *raft.Store
	clocktest.Eventually(t, "a leader", func() bool {
		for _, s := range c.nodes {
			if s != nil && s.IsLeader() {
				l = s
				return true
			}
		}
		return false
	})
	return l
}

// put writes through whichever node leads, retrying while leadership
// moves, and returns once a write is acknowledged.
func (c *cluster) put(t testing.TB, key string, value []byte) {
	t.Helper()
	clocktest.Eventually(t, "put "+key, func() bool {
		err := c.leader(t).Put(t.Context(), key, value)
		if err != nil && !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) {
			t.Fatalf("Put(%q) = %v", key, err)
		}
		return err == nil
	})
}

// waitValue waits until s has applied value at key.
func waitValue(t testing.TB, s *raft.Store, key string, value []byte) {
	t.Helper()
	clocktest.Eventually(t, fmt.Sprintf("%s to hold %s", s.ID(), key), func() bool {
		got, err := s.Get(t.Context(), key)
		return err == nil && string(got) == string(value)
	})
}

// waitMissing waits until s has applied a delete of key.
func waitMissing(t testing.TB, s *raft.Store, key string) {
	t.Helper()
	clocktest.Eventually(t, fmt.Sprintf("%s to lose %s", s.ID(), key), func() bool {
		_, err := s.Get(t.Context(), key)
		return errors.Is(err, storage.ErrNotFound)
	})
}
