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
)

// ErrHeld is returned by Acquire on a Lock that already holds the lock.
var ErrHeld = errors.New("lock is already held by this Lock")

// Lock is an exclusive lock among every Store opened on the same table and
// database, for active/standby: a PostgreSQL session advisory lock, held
// on a connection of its own for as long as that connection lives. When
// the connection dies (the holder crashed or was cut off, the server
// restarted, an administrator ran pg_terminate_backend) the server frees
// the lock for the next waiter, and the holder learns it has lost it.
//
// The lock fences nothing by itself: a holder that has lost it may still
// write through its Store until it notices, so an active node must stop
// acting as soon as the channel Acquire returned is closed. A Lock is safe
// for concurrent use; one Lock holds the lock at most once.
type Lock struct {
	cfg    *pgx.ConnConfig
	key    int64
	name   string
	scrub  func(error) error
	logger *slog.Logger

	mu   sync.Mutex
	held *holding // nil while not held
}

// holding is one tenure of the lock.
type holding struct {
	conn     *pgx.Conn
	lost     chan struct{}
	lostOnce sync.Once
	stop     context.CancelFunc // ends the watcher
	done     chan struct{}      // closed when the watcher has returned
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
	h := &holding{conn: conn, lost: make(chan struct{}), stop: stopWatch, done: make(chan struct{})}
	l.held = h
	go l.watch(watchCtx, h)
	return nil
}

// watch blocks reading h's connection, on which nothing is expected, and
// marks the lock lost as soon as the read fails: the server ended the
// session or keepalives found the connection dead. It returns when ctx
// (Release) ends.
func (l *Lock) watch(ctx context.Context, h *holding) {
	defer close(h.done)
	for {
		err := h.conn.PgConn().WaitForNotification(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			l.logger.Warn("lock lost: its connection ended", "error", l.scrub(err))
			h.markLost()
			return
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
}
