package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// attempts is how many times do runs an operation that keeps losing its
// connection; backoff is the pause before each retry.
const attempts = 3

var backoff = [attempts]time.Duration{0, 20 * time.Millisecond, 200 * time.Millisecond}

// do runs op, again on a fresh connection when it fails because its
// connection was lost or PostgreSQL aborted it to break a deadlock or
// a serialization conflict. Every operation of Store is idempotent, so a
// retry after a commit whose acknowledgement was lost changes nothing.
func (s *Store) do(ctx context.Context, op func(context.Context) error) error {
	var err error
	for i := range attempts {
		if i > 0 {
			t := time.NewTimer(backoff[i])
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
		}
		err = op(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		lost := connLost(err)
		if lost {
			s.lastLoss.Store(time.Now().UnixNano())
		}
		if !lost && !isCode(err, "40001", "40P01") {
			return err
		}
		s.logger.Debug("retrying after a lost connection or an aborted transaction", "attempt", i+1, "error", s.scrub(err))
	}
	return err
}

// shouldPing is the pool's liveness check on acquire: pgx's default (a
// connection idle for over a second is pinged), and also every connection
// that sat idle through a connection loss, which, if the server restarted
// or terminated backends, is likely dead too.
func (s *Store) shouldPing(_ context.Context, p pgxpool.ShouldPingParams) bool {
	if p.IdleDuration > time.Second {
		return true
	}
	loss := s.lastLoss.Load()
	return loss != 0 && time.Now().Add(-p.IdleDuration).UnixNano() <= loss
}

// connLost reports whether err means the connection, rather than the
// statement, failed: it never reached the server, the server went away,
// or the server is shutting down, starting up or ended the session.
func connLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return pgconn.SafeToRetry(err) || errors.As(err, &ne) || errors.As(err, &ce) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// isCode reports whether err is a server error with one of codes.
func isCode(err error, codes ...string) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	for _, c := range codes {
		if pe.Code == c {
			return true
		}
	}
	return false
}

// scrub returns err with the connection password cut out of its message,
// should a driver or server message ever carry it. errors.Is and
// errors.As still see the cause.
func (s *Store) scrub(err error) error {
	if err == nil || s.pw == "" || !strings.Contains(err.Error(), s.pw) {
		return err
	}
	return &scrubbed{err: err, msg: strings.ReplaceAll(err.Error(), s.pw, "[redacted]")}
}

type scrubbed struct {
	err error
	msg string
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }
