package secretref

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/keyward/keyward/api"
)

// TokenClient is what a Keeper needs from the server; *api.Client has it.
type TokenClient interface {
	LookupSelf(ctx context.Context) (*api.TokenInfo, error)
	RenewSelf(ctx context.Context, increment time.Duration) (time.Duration, error)
	RevokeSelf(ctx context.Context) error
	RenewLease(ctx context.Context, leaseID string, increment time.Duration) (time.Duration, error)
	RevokeLease(ctx context.Context, leaseID string) error
}

// Keeper looks after what a job obtained: it renews its leases and its
// token before they expire, and revokes them when the job is over. Its
// logs name lease paths, never lease ids or tokens.
type Keeper struct {
	c      TokenClient
	leases []Lease
	log    *slog.Logger
	now    func() time.Time
}

// NewKeeper returns a Keeper for leases, renewing and revoking through c.
// A nil logger discards.
func NewKeeper(c TokenClient, leases []Lease, log *slog.Logger) *Keeper {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Keeper{c: c, leases: leases, log: log, now: time.Now}
}

// renewable is one thing Renew keeps alive.
type renewable struct {
	what  string // "token" or the lease's path
	lease string // "" for the token
	due   time.Time
	until time.Time // expiry as last known
}

// renewAt is when something with ttl left should be renewed: at 2/3 of it.
func renewAt(now time.Time, ttl time.Duration) time.Time { return now.Add(ttl * 2 / 3) }

// Renew renews the renewable leases and, if it expires and is renewable,
// the token, each at about 2/3 of its TTL, until ctx is done. A renewal
// that fails is retried at 2/3 of the time left; one the server refuses
// (4xx, such as no lease manager) is logged and given up. A request cut
// short because ctx ended is not logged: the job being over is no failure.
func (k *Keeper) Renew(ctx context.Context) {
	now := k.now()
	var items []*renewable
	info, err := k.c.LookupSelf(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		// The job ended before the lookup came back: nothing needs
		// renewing any more, and the cancelled request is no failure.
		return
	case err != nil:
		k.log.Warn("cannot look up the token; it will not be renewed", "err", err)
	case info.TTL > 0 && info.Renewable:
		items = append(items, &renewable{what: "token", due: renewAt(now, info.TTL), until: now.Add(info.TTL)})
	}
	for _, l := range k.leases {
		if l.Renewable && l.TTL > 0 {
			items = append(items, &renewable{what: l.Path, lease: l.ID, due: renewAt(now, l.TTL), until: now.Add(l.TTL)})
		}
	}
	for len(items) > 0 {
		next := 0
		for i, it := range items {
			if it.due.Before(items[next].due) {
				next = i
			}
		}
		it := items[next]
		t := time.NewTimer(it.due.Sub(k.now()))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		ttl, err := k.renew(ctx, it)
		now := k.now()
		switch {
		case err == nil && ttl > 0:
			k.log.Debug("renewed", "what", it.what, "ttl", ttl)
			it.due, it.until = renewAt(now, ttl), now.Add(ttl)
		case err == nil:
			k.log.Warn("renewal gave no more time", "what", it.what)
			items = append(items[:next], items[next+1:]...)
		case ctx.Err() != nil:
			return
		case isClientError(err) || !now.Before(it.until):
			k.log.Warn("cannot renew; giving up", "what", it.what, "err", err)
			items = append(items[:next], items[next+1:]...)
		default:
			k.log.Warn("renewal failed; will retry", "what", it.what, "err", err)
			it.due = now.Add(max(it.until.Sub(now)*2/3, time.Second))
		}
	}
	<-ctx.Done()
}

func (k *Keeper) renew(ctx context.Context, it *renewable) (time.Duration, error) {
	if it.lease == "" {
		return k.c.RenewSelf(ctx, 0)
	}
	return k.c.RenewLease(ctx, it.lease, 0)
}

func isClientError(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500
}

// Revoke revokes every lease, then, if self is set, the token itself (a
// batch token, which cannot be revoked, is left to its TTL), so the
// credentials die with the job. A server without a lease manager (404
// on sys/leases/revoke) is logged and skipped; other failures are returned
// together, after every revocation was tried.
func (k *Keeper) Revoke(ctx context.Context, self bool) error {
	var errs []error
	for _, l := range k.leases {
		err := k.c.RevokeLease(ctx, l.ID)
		switch {
		case err == nil:
			k.log.Debug("lease revoked", "path", l.Path)
		case api.IsStatus(err, http.StatusNotFound):
			k.log.Warn("the server has no lease manager; lease left to expire", "path", l.Path, "ttl", l.TTL)
		default:
			errs = append(errs, fmt.Errorf("revoke lease of %s: %w", l.Path, err))
		}
	}
	if self {
		// A batch token cannot be revoked (it is not stored); it dies with
		// its TTL, which bounds the leases taken with it too.
		if info, err := k.c.LookupSelf(ctx); err == nil && info.Type == "batch" {
			k.log.Debug("batch token left to expire", "ttl", info.TTL)
			return errors.Join(errs...)
		}
		if err := k.c.RevokeSelf(ctx); err != nil {
			errs = append(errs, fmt.Errorf("revoke token: %w", err))
		} else {
			k.log.Debug("token revoked")
		}
	}
	return errors.Join(errs...)
}
