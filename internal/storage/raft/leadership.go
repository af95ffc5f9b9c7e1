package raft

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
)

// leadership follows this node's raft leadership and holds the read lease
// of a node acting as the active one.
type leadership struct {
	mu      sync.Mutex
	leader  bool
	changed chan struct{} // closed, and replaced, at every change
	done    chan struct{}
	once    sync.Once

	// strict is set while the node acts as the active one (between
	// Acquire and Release): reads then need a valid lease (see Fence).
	strict atomic.Bool

	epoch      time.Time    // the lease clock's origin; time.Since is monotonic
	leaseUntil atomic.Int64 // ns since epoch until which leadership needs no check
	verifyMu   sync.Mutex   // one leadership check at a time
}

func (l *leadership) init() {
	l.changed = make(chan struct{})
	l.done = make(chan struct{})
	l.epoch = time.Now()
}

func (l *leadership) now() int64 { return int64(time.Since(l.epoch)) }

func (l *leadership) stop() { l.once.Do(func() { close(l.done) }) }

// watch applies raft's leadership notifications until the store closes.
func (l *leadership) watch(notify <-chan bool, r *hraft.Raft) {
	for {
		select {
		case v := <-notify:
			l.mu.Lock()
			if v != l.leader {
				l.leader = v
				if !v {
					l.leaseUntil.Store(0)
				}
				close(l.changed)
				l.changed = make(chan struct{})
			}
			l.mu.Unlock()
		case <-l.done:
			return
		}
	}
}

// state returns whether the node leads and the channel closed at the next
// change.
func (l *leadership) state() (bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leader, l.changed
}

// Acquire blocks until this node is the raft leader and has applied every
// entry committed before it led, or ctx ends. From then on the node acts as
// the active one: reads on it need a valid leader lease (see Fence) until
// Release. The returned channel is closed when the node loses leadership;
// the caller must stop acting as active at once and call Release.
func (s *Store) Acquire(ctx context.Context) (<-chan struct{}, error) {
	for {
		leader, ch := s.lead.state()
		if !leader {
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-s.lead.done:
				return nil, ErrClosed
			}
		}
		n, err := s.running()
		if err != nil {
			return nil, err
		}
		// A new leader may not have applied what its predecessors
		// committed: the barrier entry commits only after all of it.
		if err := n.raft.Barrier(s.applyTimeout).Error(); err != nil {
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if still, now := s.lead.state(); !still || now != ch {
			continue
		}
		lost := make(chan struct{})
		go func() {
			select {
			case <-ch:
			case <-s.lead.done:
			}
			close(lost)
		}()
		s.lead.strict.Store(true)
		return lost, nil
	}
}

// Release ends acting as the active node. When the node still leads and
// other voters exist, it hands leadership to one of them (a step-down); a
// lone voter stays leader and may Acquire again at once.
func (s *Store) Release(ctx context.Context) error {
	s.lead.strict.Store(false)
	s.lead.leaseUntil.Store(0)
	n := s.net.Load()
	if n == nil || n.raft.State() != hraft.Leader {
		return nil
	}
	servers, err := s.Configuration()
	if err != nil {
		return err
	}
	voters := 0
	for _, srv := range servers {
		if srv.Voter {
			voters++
		}
	}
	if voters < 2 {
		return nil
	}
	f := n.raft.LeadershipTransfer()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("raft: leadership transfer: %w", s.mapErr(err))
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fence returns nil only if this node is the leader now: within a lease
// that began when a quorum last confirmed its leadership, or after
// confirming it again. The lease is half the heartbeat timeout, and no
// follower votes for another candidate before a full heartbeat timeout
// without hearing from the leader, so a node that was paused or cut off
// (and so may have been replaced) never passes Fence on stale leadership:
// its lease has run out on the monotonic clock and the check fails.
//
// The confirmation commits a barrier entry rather than using raft's
// VerifyLeader: VerifyLeader counts any heartbeat answer that arrives
// after it is asked, and an answer to a heartbeat sent before a pause
// (sitting in the socket while the process was stopped) would confirm a
// leader that has since been deposed. An entry of this term commits only
// on answers to requests that carried it, so a commit proves that a
// quorum still followed this node after start.
func (s *Store) Fence(ctx context.Context) error {
	n := s.net.Load()
	if n == nil || n.raft.State() != hraft.Leader {
		return s.notLeader()
	}
	if s.lead.now() < s.lead.leaseUntil.Load() {
		return nil
	}
	s.lead.verifyMu.Lock()
	defer s.lead.verifyMu.Unlock()
	if s.lead.now() < s.lead.leaseUntil.Load() {
		return nil
	}
	start := s.lead.now()
	f := n.raft.Barrier(s.applyTimeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return s.mapErr(err)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	s.lead.extendLease(start + int64(s.rc.HeartbeatTimeout/2))
	return nil
}

// extendLease moves the lease's end to until unless it already ends later.
func (l *leadership) extendLease(until int64) {
	for {
		cur := l.leaseUntil.Load()
		if cur >= until || l.leaseUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}
