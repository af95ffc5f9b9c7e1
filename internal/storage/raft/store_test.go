package raft_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/raft"
	"github.com/keyward/keyward/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t testing.TB) storage.Backend { return singleNode(t) })
}

func TestEntryTooLarge(t *testing.T) {
	ca := newCA(t)
	cfg := testConfig(t, ca, "n1", t.TempDir(), "127.0.0.1:0")
	cfg.MaxEntrySize = 4096
	s := openNode(t, cfg)
	if err := s.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	clocktest.Eventually(t, "the node to lead", s.IsLeader)
	ctx := t.Context()
	if err := s.Put(ctx, "small", make([]byte, 1000)); err != nil {
		t.Fatalf("Put(1000 bytes) = %v", err)
	}
	err := s.Put(ctx, "big", make([]byte, 5000))
	if !errors.Is(err, raft.ErrEntryTooLarge) {
		t.Fatalf("Put(5000 bytes) = %v, want ErrEntryTooLarge", err)
	}
	// Three values that fit alone exceed the limit together.
	ops := []storage.Op{{Key: "a", Value: make([]byte, 1500)}, {Key: "b", Value: make([]byte, 1500)}, {Key: "c", Value: make([]byte, 1500)}}
	if err := s.Batch(ctx, ops); !errors.Is(err, raft.ErrEntryTooLarge) {
		t.Fatalf("Batch(3×1500 bytes) = %v, want ErrEntryTooLarge", err)
	}
	for _, k := range []string{"big", "a", "b", "c"} {
		if _, err := s.Get(ctx, k); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get(%q) after a refused write = %v, want ErrNotFound", k, err)
		}
	}
}

func TestDefaultMaxEntrySize(t *testing.T) {
	s := singleNode(t)
	if err := s.Put(t.Context(), "k", make([]byte, raft.DefaultMaxEntrySize)); !errors.Is(err, raft.ErrEntryTooLarge) {
		t.Fatalf("Put(%d bytes) = %v, want ErrEntryTooLarge", raft.DefaultMaxEntrySize, err)
	}
	if err := s.Put(t.Context(), "k", make([]byte, raft.DefaultMaxEntrySize-64)); err != nil {
		t.Fatalf("Put(%d bytes) = %v", raft.DefaultMaxEntrySize-64, err)
	}
}

func TestRestartSingleNode(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	cfg := testConfig(t, ca, "n1", dir, "127.0.0.1:0")
	s := openNode(t, cfg)
	cfg.BindAddr = s.Addr()
	if err := s.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	clocktest.Eventually(t, "the node to lead", s.IsLeader)
	ctx := t.Context()
	for i := range 20 {
		if err := s.Put(ctx, fmt.Sprint("k/", i), []byte(fmt.Sprint("v", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "k/3"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openNode(t, cfg)
	if err := s.Bootstrap(); !errors.Is(err, raft.ErrAlreadyBootstrapped) {
		t.Fatalf("Bootstrap on a restarted node = %v, want ErrAlreadyBootstrapped", err)
	}
	// The state machine is durable: the data is there before any election.
	checkRestarted := func(s *raft.Store) {
		t.Helper()
		for i := range 20 {
			if i == 3 {
				continue
			}
			got, err := s.Get(ctx, fmt.Sprint("k/", i))
			if err != nil || string(got) != fmt.Sprint("v", i) {
				t.Fatalf("Get(k/%d) after restart = %q, %v", i, got, err)
			}
		}
		if _, err := s.Get(ctx, "k/3"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get(k/3) after restart = %v, want ErrNotFound", err)
		}
	}
	checkRestarted(s)
	clocktest.Eventually(t, "the restarted node to lead", s.IsLeader)
	if err := s.Put(ctx, "after", []byte("x")); err != nil {
		t.Fatalf("Put after restart = %v", err)
	}
	checkRestarted(s) // the replay skipped what fsm.db already had

	// A lost state machine file is rebuilt from the snapshot and the log.
	if err := s.SaveSnapshot(&bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "after-snapshot", []byte("y")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "fsm.db")); err != nil {
		t.Fatal(err)
	}
	s = openNode(t, cfg)
	checkRestarted(s)
	waitValue(t, s, "after", []byte("x"))
	waitValue(t, s, "after-snapshot", []byte("y"))
}

func TestConfigValidate(t *testing.T) {
	var c raft.Config
	err := c.Validate()
	for _, want := range []string{"Dir", "NodeID", "BindAddr"} {
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("Validate() of an empty config = %v, want it to name %s", err, want)
		}
	}
	if _, err := raft.Open(c); err == nil {
		t.Error("Open(empty config) = nil error")
	}
	// OpenLocal needs no TLS (Start takes it); Open does.
	c = raft.Config{Dir: t.TempDir(), NodeID: "n1", BindAddr: "127.0.0.1:0"}
	if _, err := raft.Open(c); err == nil || !bytes.Contains([]byte(err.Error()), []byte("TLS")) {
		t.Errorf("Open without TLS = %v, want it to name TLS", err)
	}
}

// TestOpenRefusesLostLog: a state machine ahead of the raft log would skip
// the entries the log writes again at those indexes, so Open refuses it.
func TestOpenRefusesLostLog(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	cfg := testConfig(t, ca, "n1", dir, "127.0.0.1:0")
	s := openNode(t, cfg)
	if err := s.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	clocktest.Eventually(t, "the node to lead", s.IsLeader)
	if err := s.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "raft.db")); err != nil {
		t.Fatal(err)
	}
	if s, err := raft.Open(cfg); err == nil {
		s.Close()
		t.Fatal("Open with fsm.db but no raft.db = nil error")
	}
}

// A flood of connections that never finish a handshake does not keep a
// peer out: those over the bound are closed at once, and raft still
// replicates.
func TestClusterPortSurvivesSilentConnections(t *testing.T) {
	c := newCluster(t, 2)
	leader := c.leader(t)
	var conns []net.Conn
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	for range 300 {
		cn, err := net.Dial("tcp", leader.Addr())
		if err != nil {
			break
		}
		conns = append(conns, cn)
	}
	if err := leader.Put(t.Context(), "after-flood", []byte("v")); err != nil {
		t.Fatalf("write during a flood of silent connections: %v", err)
	}
}
