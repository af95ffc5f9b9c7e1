package raft_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/raft"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestValuesNeverLogged plants a random value, drives writes, replication,
// a follower restart, a snapshot, a restore and refused writes with the
// most verbose logging, and searches the logs and errors for it.
func TestValuesNeverLogged(t *testing.T) {
	canary := "canary-" + rand.Text()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug - 8}))

	ca := newCA(t)
	var nodes []*raft.Store
	var cfgs []raft.Config
	for i := range 3 {
		id := fmt.Sprintf("n%d", i+1)
		cfg := testConfig(t, ca, id, filepath.Join(t.TempDir(), id), "127.0.0.1:0")
		cfg.Logger = logger
		cfg.MaxEntrySize = 4096
		s := openNode(t, cfg)
		cfg.BindAddr = s.Addr()
		nodes, cfgs = append(nodes, s), append(cfgs, cfg)
	}
	c := &cluster{ca: ca, nodes: nodes, cfgs: cfgs}
	if err := nodes[0].Bootstrap(); err != nil {
		t.Fatal(err)
	}
	clocktest.Eventually(t, "n1 to lead", nodes[0].IsLeader)
	for _, s := range nodes[1:] {
		clocktest.Eventually(t, "adding "+s.ID(), func() bool { return c.leader(t).AddVoter(s.ID(), s.Addr()) == nil })
	}

	var errs []error
	c.put(t, "secret/a", []byte(canary))
	for _, s := range nodes {
		waitValue(t, s, "secret/a", []byte(canary))
		if s != c.leader(t) {
			errs = append(errs, s.Put(t.Context(), "secret/b", []byte(canary)))
		}
	}
	big := []byte(strings.Repeat(canary, 4096/len(canary)+1))
	errs = append(errs, c.leader(t).Put(t.Context(), "secret/big", big))
	errs = append(errs, c.leader(t).Batch(t.Context(), []storage.Op{{Key: "secret/c", Value: []byte(canary)}, {Key: "", Value: []byte(canary)}}))
	var snap bytes.Buffer
	if err := c.leader(t).SaveSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(snap.Bytes(), []byte(canary)) {
		t.Fatal("the snapshot does not hold the planted value: the search below would prove nothing")
	}
	if err := c.leader(t).RestoreSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	errs = append(errs, c.leader(t).RestoreSnapshot(strings.NewReader(canary)))
	for i, s := range c.nodes {
		if s != c.leader(t) {
			s.Close()
			c.nodes[i] = openNode(t, cfgs[i])
			waitValue(t, c.nodes[i], "secret/a", []byte(canary))
			break
		}
	}

	for _, err := range errs {
		if err == nil {
			t.Fatal("a write that should fail succeeded")
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("error carries the value: %v", err)
		}
	}
	if !errors.Is(errs[len(errs)-3], raft.ErrEntryTooLarge) {
		t.Errorf("oversized Put = %v, want ErrEntryTooLarge", errs[len(errs)-3])
	}
	out := logs.String()
	if !strings.Contains(out, "raft") {
		t.Fatal("nothing was logged: the search would prove nothing")
	}
	if strings.Contains(out, canary) {
		t.Fatal("the logs carry the planted value")
	}
}
