package raft_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
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

func TestClusterReplicates(t *testing.T) {
	c := newCluster(t, 3)
	c.put(t, "a/1", []byte("one"))
	if err := c.leader(t).Batch(t.Context(), []storage.Op{
		{Key: "a/2", Value: []byte("two")},
		{Key: "a/1", Delete: true},
	}); err != nil {
		t.Fatalf("Batch on the leader = %v", err)
	}
	for _, s := range c.nodes {
		waitValue(t, s, "a/2", []byte("two"))
		waitMissing(t, s, "a/1")
		names, err := s.List(t.Context(), "a/")
		if err != nil || len(names) != 1 || names[0] != "2" {
			t.Errorf("%s: List(a/) = %q, %v, want [2]", s.ID(), names, err)
		}
	}
	conf, err := c.nodes[1].Configuration()
	if err != nil {
		t.Fatal(err)
	}
	if len(conf) != 3 {
		t.Fatalf("Configuration() = %+v, want 3 servers", conf)
	}
	for _, srv := range conf {
		if !srv.Voter {
			t.Errorf("server %s is not a voter", srv.ID)
		}
	}
}

func TestFollowerWriteNotLeader(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader(t)
	for _, s := range c.nodes {
		if s == leader {
			continue
		}
		var nl *raft.NotLeaderError
		clocktest.Eventually(t, s.ID()+" to name the leader", func() bool {
			err := s.Put(t.Context(), "k", []byte("v"))
			if !errors.As(err, &nl) || !errors.Is(err, raft.ErrNotLeader) {
				t.Fatalf("%s: Put on a follower = %v, want a NotLeaderError", s.ID(), err)
			}
			return nl.LeaderAddr != ""
		})
		if l := c.leader(t); nl.LeaderAddr != l.Addr() || nl.LeaderID != l.ID() {
			t.Errorf("%s: NotLeaderError names %s at %s, want %s at %s", s.ID(), nl.LeaderID, nl.LeaderAddr, l.ID(), l.Addr())
		}
		if err := s.Delete(t.Context(), "k"); !errors.Is(err, raft.ErrNotLeader) {
			t.Errorf("%s: Delete on a follower = %v, want ErrNotLeader", s.ID(), err)
		}
		if err := s.AddVoter("x", "127.0.0.1:1"); !errors.Is(err, raft.ErrNotLeader) {
			t.Errorf("%s: AddVoter on a follower = %v, want ErrNotLeader", s.ID(), err)
		}
	}
}

func TestLeaderFailover(t *testing.T) {
	c := newCluster(t, 3)
	const n = 50
	for i := range n {
		c.put(t, fmt.Sprint("k/", i), []byte(fmt.Sprint("v", i)))
	}
	old := c.leader(t)
	for i, s := range c.nodes {
		if s == old {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			c.nodes[i] = nil
		}
	}
	// A write through the new leader applies, in order, everything
	// committed before it: all earlier acknowledged writes must then be
	// there without waiting.
	c.put(t, "after", []byte("x"))
	l := c.leader(t)
	if l == old {
		t.Fatal("the closed node still leads")
	}
	for i := range n {
		got, err := l.Get(t.Context(), fmt.Sprint("k/", i))
		if err != nil || string(got) != fmt.Sprint("v", i) {
			t.Fatalf("new leader %s: Get(k/%d) = %q, %v", l.ID(), i, got, err)
		}
	}
	for _, s := range c.nodes {
		if s != nil {
			waitValue(t, s, "after", []byte("x"))
		}
	}
}

func TestRestartFollowerCatchesUp(t *testing.T) {
	c := newCluster(t, 3)
	c.put(t, "before", []byte("1"))
	leader := c.leader(t)
	var fi int
	for i, s := range c.nodes {
		if s != leader {
			fi = i
		}
	}
	waitValue(t, c.nodes[fi], "before", []byte("1"))
	if err := c.nodes[fi].Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[fi] = nil
	c.put(t, "while-down", []byte("2"))

	s := openNode(t, c.cfgs[fi])
	c.nodes[fi] = s
	if got, err := s.Get(t.Context(), "before"); err != nil || string(got) != "1" {
		t.Fatalf("restarted %s: Get(before) = %q, %v", s.ID(), got, err)
	}
	waitValue(t, s, "while-down", []byte("2"))
	c.put(t, "after", []byte("3"))
	waitValue(t, s, "after", []byte("3"))
}

func TestSnapshotRestore(t *testing.T) {
	c := newCluster(t, 3)
	c.put(t, "keep", []byte("old"))
	c.put(t, "gone", []byte("x"))
	var snap bytes.Buffer
	if err := c.leader(t).SaveSnapshot(&snap); err != nil {
		t.Fatalf("SaveSnapshot = %v", err)
	}
	c.put(t, "keep", []byte("new"))
	c.put(t, "later", []byte("y"))
	if err := c.leader(t).Delete(t.Context(), "gone"); err != nil {
		t.Fatal(err)
	}

	// A cut or foreign stream is refused and the data stays as it is.
	for name, bad := range map[string][]byte{
		"truncated": snap.Bytes()[:snap.Len()/2],
		"foreign":   bytes.Repeat([]byte("not a snapshot "), 4096),
	} {
		if err := c.leader(t).RestoreSnapshot(bytes.NewReader(bad)); err == nil {
			t.Errorf("RestoreSnapshot(%s) = nil, want an error", name)
		}
	}
	waitValue(t, c.leader(t), "keep", []byte("new"))

	for _, s := range c.nodes {
		if s != c.leader(t) {
			if err := s.RestoreSnapshot(bytes.NewReader(snap.Bytes())); !errors.Is(err, raft.ErrNotLeader) {
				t.Errorf("%s: RestoreSnapshot on a follower = %v, want ErrNotLeader", s.ID(), err)
			}
		}
	}
	if err := c.leader(t).RestoreSnapshot(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatalf("RestoreSnapshot = %v", err)
	}
	for _, s := range c.nodes {
		waitValue(t, s, "keep", []byte("old"))
		waitValue(t, s, "gone", []byte("x"))
		waitMissing(t, s, "later")
	}
	c.put(t, "after-restore", []byte("z"))
	for _, s := range c.nodes {
		waitValue(t, s, "after-restore", []byte("z"))
	}
}

// TestForeignCA: a node whose certificate comes from another CA can neither
// connect to the cluster nor be connected to, so it never gets data.
func TestForeignCA(t *testing.T) {
	c := newCluster(t, 3)
	other := newCA(t)
	foreignTLS := nodeTLS(t, other, "intruder")

	// As a client: the cluster port rejects the certificate, even from a
	// client that trusts the cluster's own CA.
	addr := c.leader(t).Addr()
	asClient := foreignTLS.Clone()
	asClient.RootCAs = c.ca.Pool()
	conn, err := tls.Dial("tcp", addr, asClient)
	if err == nil {
		conn.SetDeadline(time.Now().Add(clocktest.Wait))
		_, err = conn.Read(make([]byte, 1)) // TLS 1.3 reports the rejection after the handshake
		conn.Close()
	}
	if !isTLSAlert(err) {
		t.Fatalf("connecting with a foreign certificate: %v, want a TLS alert", err)
	}
	// Nor does a foreign CA's cluster accept a node of ours, or a node of
	// ours trust a foreign server.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", foreignTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	ours := nodeTLS(t, c.ca, "n9")
	conn, err = tls.Dial("tcp", ln.Addr().String(), ours)
	if err == nil {
		conn.Close()
	}
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("dialing a foreign server: %v, want x509.UnknownAuthorityError", err)
	}

	// In raft: a foreign node added to the configuration never receives
	// the log.
	intruder := openNode(t, testConfig(t, other, "intruder", filepath.Join(t.TempDir(), "intruder"), "127.0.0.1:0"))
	clocktest.Eventually(t, "adding the intruder as a nonvoter", func() bool {
		return c.leader(t).AddNonvoter(intruder.ID(), intruder.Addr()) == nil
	})
	c.put(t, "secret-path", []byte("ciphertext"))
	for _, s := range c.nodes {
		waitValue(t, s, "secret-path", []byte("ciphertext"))
	}
	if _, err := intruder.Get(t.Context(), "secret-path"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("intruder: Get = %v, want ErrNotFound", err)
	}
	if id, _ := intruder.Leader(); id != "" {
		t.Fatalf("intruder learned the leader %s", id)
	}
}

func TestTLSConfigChecks(t *testing.T) {
	ca := newCA(t)
	good := nodeTLS(t, ca, "n1")
	tests := []struct {
		name   string
		mutate func(*tls.Config)
	}{
		{"no certificate", func(c *tls.Config) { c.Certificates = nil }},
		{"no client CAs", func(c *tls.Config) { c.ClientCAs = nil }},
		{"no root CAs", func(c *tls.Config) { c.RootCAs = nil }},
		{"insecure", func(c *tls.Config) { c.InsecureSkipVerify = true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, ca, "n1", t.TempDir(), "127.0.0.1:0")
			cfg.TLS = good.Clone()
			tc.mutate(cfg.TLS)
			if s, err := raft.Open(cfg); err == nil {
				s.Close()
				t.Fatal("Open = nil error")
			}
		})
	}
	// A server that would accept an unauthenticated client is tightened.
	cfg := testConfig(t, ca, "n1", t.TempDir(), "127.0.0.1:0")
	cfg.TLS.ClientAuth = tls.NoClientCert
	cfg.TLS.MinVersion = tls.VersionTLS12
	s := openNode(t, cfg)
	noCert := &tls.Config{RootCAs: ca.Pool(), ServerName: raft.ServerName, MaxVersion: tls.VersionTLS12}
	if conn, err := tls.Dial("tcp", s.Addr(), noCert); err == nil {
		conn.Close()
		t.Fatal("TLS 1.2 handshake succeeded")
	}
	noCert.MaxVersion = 0
	conn, err := tls.Dial("tcp", s.Addr(), noCert)
	if err == nil {
		conn.SetDeadline(time.Now().Add(clocktest.Wait))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if !isTLSAlert(err) {
		t.Fatalf("client without a certificate: %v, want a TLS alert", err)
	}
}

// isTLSAlert reports whether err is the peer refusing the handshake with
// a TLS alert (crypto/tls reports it as a "remote error").
func isTLSAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}
