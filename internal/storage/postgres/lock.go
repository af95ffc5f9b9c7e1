package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Lock timing. The holder's connection sends TCP keepalives after
// keepaliveIdle of silence, every keepaliveInterval, and is dead after
// keepaliveCount unanswered ones; the server probes the holder the same
// way, so a holder cut off by a partition loses the lock on both sides
// within about 20 seconds rather than the operating system's two hours.
const (
	keepaliveIdle     = 5 * time.Second
	keepaliveInterval = 5 * time.Second
	keepaliveCount    = 3
	// retryInterval is the pause between attempts to reach the server
	// while Acquire waits.
	retryInterval = time.Second
	// cancelGrace is how long a cancelled wait gives the server's cancel
	// to land before the connection is cut.
	cancelGrace = 5 * time.Second
	// confirmBound is how old the last proof that the holding session is
	// alive may be before Fence asks the server again.
	confirmBound = time.Second
	// probeTimeout bounds that question: a holder whose server does not
	// answer within it has lost the lock, as far as Fence is concerned.
	probeTimeout = 5 * time.Second
)

// ErrHeld is returned by Acquire on a Lock that already holds the lock.
var ErrHeld = errors.New("lock is already held by this Lock")

// ErrNotHeld is returned by Fence on a Lock that does not hold the lock, or
// no longer does.
var ErrNotHeld = errors.New("lock is not held")

// Lock is an exclusive lock among every Store opened on the same table and
// database, for active/standby: a PostgreSQL session advisory lock, held
// on a connection of its own for as long as that connection lives. When
// the connection dies (the holder crashed or was cut off, the server
// restarted, an administrator ran pg_terminate_backend) the server frees
// the lock for the next waiter, and the holder learns it has lost it.
//
// The lock does not fence the Store's writes, which go through the Store's
// own pool, not the holding connection: a holder that has lost the lock
// may still write until it notices, so an active node must stop acting as
// soon as the channel Acquire returned is closed, and check Fence before
// each operation it starts as the holder. Fence narrows the window but
// cannot close it (see Fence). A Lock is safe for concurrent use; one Lock
// holds the lock at most once. Its methods satisfy the core's HA
// interface.
type Lock struct {
	cfg    *pgx.ConnConfig
	key    int64
	name   string
	scrub  func(error) error
	logger *slog.Logger

	mu   sync.Mutex
	held *holding // nil while not held

	cur atomic.Pointer[holding] // held, for Fence, which never waits on mu
}

// holding is one tenure of the lock. Only the watcher goroutine uses conn
// while it runs; Fence asks it to prove the session alive.
type holding struct {
	conn     *pgx.Conn
	lost     chan struct{}
	lostOnce sync.Once
	stop     context.CancelFunc // ends the watcher
	done     chan struct{}      // closed when the watcher has returned

	start     time.Time    // when the lock was granted (monotonic)
	confirmed atomic.Int64 // when the session was last known alive, as time since start

	pmu       sync.Mutex
	probe     bool               // Fence wants the session proved alive
	interrupt context.CancelFunc // ends the watcher's current wait, so it can probe
	round     chan struct{}      // closed when the next probe ends
}

func (h *holding) markLost() { h.lostOnce.Do(func() { close(h.lost) }) }

// NewLock returns the lock called name on s's table. Locks of different
// names, or on different tables, are independent.
func (s *Store) NewLock(name string) *Lock {
	sum := sha256.Sum256([]byte("keyward lock\x00" + s.table + "\x00" + name))
	cfg := s.conn.Copy()
	d := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: keepaliveIdle, Interval: keepaliveInterval, Count: keepaliveCount}}
	cfg.DialFunc = d.DialContext
	for k, v := range map[string]string{
		"tcp_keepalives_idle":     fmt.Sprint(keepaliveIdle.Seconds()),
		"tcp_keepalives_interval": fmt.Sprint(keepaliveInterval.Seconds()),
		"tcp_keepalives_count":    fmt.Sprint(keepaliveCount),
		// The wait and the idle tenure must outlast any server defaults.
		"statement_timeout":    "0",
		"lock_timeout":         "0",
		"idle_session_timeout": "0",
	} {
		cfg.RuntimeParams[k] = v
	}
	return &Lock{
		cfg:    cfg,
		key:    int64(binary.BigEndian.Uint64(sum[:8])),
		name:   name,
		scrub:  s.scrub,
		logger: s.logger.With("lock", name),
	}
}

// Acquire blocks until the lock is held or ctx ends, riding out a server
// that is down or restarting. It returns a channel that is closed once the
// lock is no longer held: its connection died, or Release was called.
// Acquire on a Lock already holding the lock fails with ErrHeld.
func (l *Lock) Acquire(ctx context.Context) (<-chan struct{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.held; h != nil {
		select {
		case <-h.lost:
			l.end(h)
		default:
			return nil, fmt.Errorf("acquire lock %q: %w", l.name, ErrHeld)
		}
	}
	for {
		conn, err := pgx.ConnectConfig(ctx, l.cfg)
		if err == nil {
			if err = l.wait(ctx, conn); err == nil {
				break
			}
			conn.Close(context.Background())
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("acquire lock %q: %w", l.name, ctx.Err())
		}
		if !connLost(err) {
			return nil, fmt.Errorf("acquire lock %q: %w", l.name, l.scrub(err))
		}
		l.logger.Warn("lock: server unreachable, retrying", "error", l.scrub(err))
		t := time.NewTimer(retryInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("acquire lock %q: %w", l.name, ctx.Err())
		case <-t.C:
		}
	}
	l.logger.Info("lock acquired")
	return l.held.lost, nil
}

// wait takes the lock on conn, waiting in the server for as long as
// another session holds it, and starts watching conn. When ctx ends the
// server is asked to cancel the wait; if that cannot reach it the
// connection is cut after cancelGrace.
func (l *Lock) wait(ctx context.Context, conn *pgx.Conn) error {
	execCtx, cut := context.WithCancel(context.WithoutCancel(ctx))
	defer cut()
	stop := context.AfterFunc(ctx, func() {
		cctx, cancel := context.WithTimeout(context.Background(), cancelGrace)
		defer cancel()
		_ = conn.PgConn().CancelRequest(cctx)
		time.AfterFunc(cancelGrace, cut)
	})
	_, err := conn.Exec(execCtx, "SELECT pg_advisory_lock($1)", l.key)
	stop()
	if err != nil {
		return err
	}
	if ctx.Err() != nil { // granted as the caller gave up: closing conn frees it
		return ctx.Err()
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	h := &holding{conn: conn, lost: make(chan struct{}), stop: stopWatch, done: make(chan struct{}),
		start: time.Now(), round: make(chan struct{})}
	l.held = h
	l.cur.Store(h)
	go l.watch(watchCtx, h)
	return nil
}

// watch blocks reading h's connection, on which nothing is expected, and
// marks the lock lost as soon as the read fails: the server ended the
// session or keepalives found the connection dead. When Fence asks, it
// stops reading and runs SELECT 1 on the connection, marking the lock lost
// if that fails. It returns when ctx (Release) ends.
func (l *Lock) watch(ctx context.Context, h *holding) {
	defer close(h.done)
	for {
		h.pmu.Lock()
		wctx, interrupt := context.WithCancel(ctx)
		h.interrupt = interrupt
		if h.probe {
			interrupt()
		}
		h.pmu.Unlock()
		err := h.conn.PgConn().WaitForNotification(wctx)
		probing := wctx.Err() != nil
		interrupt()
		if ctx.Err() != nil {
			return
		}
		if !probing {
			if err != nil {
				l.logger.Warn("lock lost: its connection ended", "error", l.scrub(err))
				h.markLost()
				return
			}
			continue // a notification nobody asked for
		}
		if err := l.probe(ctx, h); err != nil {
			if ctx.Err() == nil {
				l.logger.Warn("lock lost: its connection did not answer", "error", l.scrub(err))
				h.markLost()
			}
			return
		}
	}
}

// probe proves h's session alive with a round trip on its connection, and
// ends the round Fence callers wait for. Only the watcher calls it.
func (l *Lock) probe(ctx context.Context, h *holding) error {
	h.pmu.Lock()
	h.probe = false
	h.pmu.Unlock()
	sent := time.Since(h.start)
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	_, err := h.conn.Exec(pctx, "SELECT 1")
	cancel()
	if err != nil {
		return err
	}
	h.confirmed.Store(int64(sent))
	h.pmu.Lock()
	close(h.round)
	h.round = make(chan struct{})
	h.pmu.Unlock()
	return nil
}

// Fence returns nil only while the lock is held and its session is known
// to be alive: the channel Acquire returned is open, and the server
// answered on the holding connection within the last confirmBound (one
// second). When the last answer is older, Fence asks again (SELECT 1 on
// that connection, up to probeTimeout) and waits for the answer or ctx;
// concurrent callers share one question. Otherwise it fails with
// ErrNotHeld, or ctx's error.
//
// What Fence does not fence: a nil result means the session was alive a
// moment ago, not that it still is while the caller's writes run. Those
// writes go through the Store's pool on other connections, which the lock
// does not cover; if the holding connection dies (the server frees the
// lock at once on pg_terminate_backend or a server-side timeout, or after
// its keepalives, about 20 seconds, on a partition), another node can take
// the lock while writes that passed Fence here are still in flight, and
// PostgreSQL applies both. Fence shrinks that window to the writes started
// within confirmBound of the session's death plus the time they take; it
// does not close it.
func (l *Lock) Fence(ctx context.Context) error {
	h := l.cur.Load()
	if h == nil {
		return fmt.Errorf("fence lock %q: %w", l.name, ErrNotHeld)
	}
	for {
		select {
		case <-h.lost:
			return fmt.Errorf("fence lock %q: %w", l.name, ErrNotHeld)
		default:
		}
		if time.Since(h.start)-time.Duration(h.confirmed.Load()) < confirmBound {
			return nil
		}
		h.pmu.Lock()
		round := h.round
		h.probe = true
		if h.interrupt != nil {
			h.interrupt()
		}
		h.pmu.Unlock()
		select {
		case <-round:
		case <-h.lost:
		case <-ctx.Done():
			return fmt.Errorf("fence lock %q: %w", l.name, ctx.Err())
		}
	}
}

// Release gives the lock up, if held, and closes the channel Acquire
// returned. The lock is free for others once Release returns nil. Release
// waits for an Acquire in progress on the same Lock: cancel that Acquire's
// context to stop it instead.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.held
	if h == nil {
		return nil
	}
	var err error
	select {
	case <-h.lost:
	default:
		h.stop()
		<-h.done
		if !h.conn.IsClosed() {
			var ok bool
			if err = h.conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", l.key).Scan(&ok); err == nil && !ok {
				err = errors.New("the server did not hold it for this session")
			}
		}
	}
	l.end(h)
	if err != nil {
		// Closing the session frees the lock all the same, a moment later.
		return fmt.Errorf("release lock %q: %w", l.name, l.scrub(err))
	}
	l.logger.Info("lock released")
	return nil
}

// end closes h's connection, which frees the lock in the server if the
// session still held it, and marks h lost. l.mu is held.
func (l *Lock) end(h *holding) {
	h.stop()
	<-h.done
	h.conn.Close(context.Background())
	h.markLost()
	l.held = nil
	l.cur.Store(nil)
}
