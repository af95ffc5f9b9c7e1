package token

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Revocation is crash safe in two passes. The first walks the tree top-down
// and marks every entry as being revoked (persisted, so it is unusable from
// then on and Sweep knows to finish the job). The second deletes bottom-up:
// OnRevoke, then the entry, then its index keys. An interrupted revocation
// leaves marked entries, which Sweep revokes again, and dangling index keys,
// which Sweep deletes.

// Revoke revokes the token and every token descended from it. Revoking an
// unknown token is not an error; revoking a valid batch token is
// ErrBatchRevoke (it ends with its TTL or its parent).
func (s *Store) Revoke(ctx context.Context, token string) error {
	if isBatch(token) {
		return s.refuseBatchRevoke(ctx, token)
	}
	if token == "" || len(token) > maxTokenLen {
		return nil
	}
	_, err := s.revokeTree(ctx, s.hash(token))
	return err
}

// RevokeAccessor revokes the token with this accessor and its descendants.
// It returns ErrInvalidToken for an unknown accessor.
func (s *Store) RevokeAccessor(ctx context.Context, accessor string) error {
	h, ok, err := s.byAccessor(ctx, accessor)
	if err != nil {
		return err
	}
	if !ok {
		return ErrInvalidToken
	}
	_, err = s.revokeTree(ctx, h)
	return err
}

// RevokeOrphan revokes the token alone; its children become orphans.
func (s *Store) RevokeOrphan(ctx context.Context, token string) error {
	if isBatch(token) {
		return s.refuseBatchRevoke(ctx, token)
	}
	if token == "" || len(token) > maxTokenLen {
		return nil
	}
	_, err := s.revokeOrphan(ctx, s.hash(token))
	return err
}

// mark flags the entry at h as being revoked in the given mode (tree wins
// over orphan) and drops it from the cache. It reports whether the entry
// exists.
func (s *Store) mark(ctx context.Context, h [hashLen]byte, mode string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.read(ctx, h)
	if err != nil {
		return false, err
	}
	s.invalidate(h)
	if e == nil {
		return false, nil
	}
	if e.revoking == mode || e.revoking == revokeTree {
		return true, nil
	}
	e.revoking = mode
	if err := s.write(ctx, e); err != nil {
		return true, fmt.Errorf("mark token %s revoked: %w", e.Accessor, err)
	}
	s.invalidate(h)
	return true, nil
}

func (s *Store) children(ctx context.Context, h [hashLen]byte) ([][hashLen]byte, error) {
	keys, err := s.st.List(ctx, parentPrefix+hexHash(h)+"/")
	if err != nil {
		return nil, fmt.Errorf("list child tokens: %w", err)
	}
	out := make([][hashLen]byte, 0, len(keys))
	for _, k := range keys {
		if c, ok := parseHash(k); ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// revokeTree revokes h and its descendants and returns how many entries it
// deleted.
func (s *Store) revokeTree(ctx context.Context, h [hashLen]byte) (int, error) {
	order := [][hashLen]byte{h}
	seen := map[[hashLen]byte]bool{h: true}
	for i := 0; i < len(order); i++ {
		if _, err := s.mark(ctx, order[i], revokeTree); err != nil {
			return 0, err
		}
		kids, err := s.children(ctx, order[i])
		if err != nil {
			return 0, err
		}
		for _, k := range kids {
			if !seen[k] {
				seen[k] = true
				order = append(order, k)
			}
		}
	}
	removed := 0
	for i := len(order) - 1; i >= 0; i-- {
		ok, err := s.destroy(ctx, order[i])
		if err != nil {
			return removed, err
		}
		if ok {
			removed++
		}
	}
	return removed, nil
}

// revokeOrphan revokes h alone, turning its children into orphans.
func (s *Store) revokeOrphan(ctx context.Context, h [hashLen]byte) (int, error) {
	exists, err := s.mark(ctx, h, revokeOrphan)
	if err != nil {
		return 0, err
	}
	kids, err := s.children(ctx, h)
	if err != nil {
		return 0, err
	}
	hh := hexHash(h)
	for _, k := range kids {
		if err := s.orphan(ctx, k, hh); err != nil {
			return 0, err
		}
	}
	if !exists {
		return 0, nil
	}
	ok, err := s.destroy(ctx, h)
	if err != nil || !ok {
		return 0, err
	}
	return 1, nil
}

// orphan detaches child c from parent hh.
func (s *Store) orphan(ctx context.Context, c [hashLen]byte, hh string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.read(ctx, c)
	if err != nil {
		return err
	}
	if e != nil && e.parentHash == hh {
		e.parentHash = ""
		e.ParentAccessor = ""
		e.Orphan = true
		if err := s.write(ctx, e); err != nil {
			return fmt.Errorf("orphan token %s: %w", e.Accessor, err)
		}
		s.invalidate(c)
	}
	if err := s.st.Delete(ctx, parentPrefix+hh+"/"+hexHash(c)); err != nil {
		return fmt.Errorf("delete child index: %w", err)
	}
	return nil
}

// destroy calls OnRevoke for the entry at h and deletes it with its index
// keys. It reports whether an entry was deleted.
func (s *Store) destroy(ctx context.Context, h [hashLen]byte) (bool, error) {
	e, err := s.read(ctx, h)
	if err != nil {
		return false, err
	}
	if e == nil {
		s.invalidate(h)
		return false, nil
	}
	if s.onRevoke != nil {
		if err := s.onRevoke(ctx, e.clone()); err != nil {
			return false, fmt.Errorf("revoke token %s: %w", e.Accessor, err)
		}
	}
	// The entry goes first: without it the token is gone, and index keys
	// left by a crash are dangling ones that Sweep deletes.
	hh := hexHash(h)
	ops := []logical.BatchOp{{Key: idPrefix + hh}}
	if e.Accessor != "" {
		ops = append(ops, logical.BatchOp{Key: accPrefix + e.Accessor})
	}
	if e.parentHash != "" {
		ops = append(ops, logical.BatchOp{Key: parentPrefix + e.parentHash + "/" + hh})
	}
	// Under mu, so a concurrent orphaning cannot write the entry back.
	s.mu.Lock()
	err = s.apply(ctx, ops)
	s.invalidate(h)
	s.mu.Unlock()
	if err != nil {
		return false, fmt.Errorf("delete token %s: %w", e.Accessor, err)
	}
	s.log.Debug("token revoked", "accessor", e.Accessor)
	return true, nil
}

// Sweep removes expired tokens with their descendants, finishes
// interrupted revocations, revokes tokens whose parent no longer exists and
// deletes dangling index keys. It returns how many entries it removed and
// keeps going past individual failures, which it joins into err.
func (s *Store) Sweep(ctx context.Context) (removed int, err error) {
	keys, err := s.st.List(ctx, idPrefix)
	if err != nil {
		return 0, fmt.Errorf("sweep tokens: list: %w", err)
	}
	var errs []error
	now := s.now()
	for _, k := range keys {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		h, ok := parseHash(k)
		if !ok {
			continue
		}
		e, err := s.read(ctx, h)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if e == nil {
			continue
		}
		if e.revoking == revokeUsed && s.isPending(h) {
			continue // its last request is running; its end revokes it
		}
		var n int
		if e.revoking == revokeTree && e.parentHash != "" {
			// A marked child of a marked parent is revoked with the
			// parent's tree; don't walk its subtree twice.
			if ph, ok := parseHash(e.parentHash); ok {
				if p, perr := s.read(ctx, ph); perr == nil && p != nil && p.revoking == revokeTree {
					continue
				}
			}
		}
		switch {
		case e.revoking == revokeOrphan:
			n, err = s.revokeOrphan(ctx, h)
		case e.revoking != "" || !e.usable(now):
			n, err = s.revokeTree(ctx, h)
		case e.parentHash != "":
			ph, ok := parseHash(e.parentHash)
			var parent *Entry
			if ok {
				parent, err = s.read(ctx, ph)
			}
			if err == nil && parent == nil {
				n, err = s.revokeTree(ctx, h)
			}
		}
		removed += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.sweepIndexes(ctx); err != nil {
		errs = append(errs, err)
	}
	if removed > 0 {
		s.log.Info("swept tokens", "removed", removed)
	}
	return removed, errors.Join(errs...)
}

// sweepIndexes deletes accessor and child index keys whose entry is gone.
func (s *Store) sweepIndexes(ctx context.Context) error {
	accs, err := s.st.List(ctx, accPrefix)
	if err != nil {
		return fmt.Errorf("sweep accessors: %w", err)
	}
	for _, a := range accs {
		b, err := s.st.Get(ctx, accPrefix+a)
		if err != nil {
			return fmt.Errorf("sweep accessor %s: %w", a, err)
		}
		h, ok := parseHash(string(b))
		if b != nil && ok {
			if e, err := s.read(ctx, h); err != nil || e != nil {
				continue
			}
		}
		if err := s.st.Delete(ctx, accPrefix+a); err != nil {
			return fmt.Errorf("sweep accessor %s: %w", a, err)
		}
	}
	parents, err := s.st.List(ctx, parentPrefix)
	if err != nil {
		return fmt.Errorf("sweep child index: %w", err)
	}
	for _, p := range parents {
		p = strings.TrimSuffix(p, "/")
		kids, err := s.st.List(ctx, parentPrefix+p+"/")
		if err != nil {
			return fmt.Errorf("sweep child index: %w", err)
		}
		for _, k := range kids {
			c, ok := parseHash(k)
			if ok {
				e, err := s.read(ctx, c)
				if err != nil || (e != nil && e.parentHash == p) {
					continue
				}
			}
			if err := s.st.Delete(ctx, parentPrefix+p+"/"+k); err != nil {
				return fmt.Errorf("sweep child index: %w", err)
			}
		}
	}
	return nil
}

// Run sweeps every interval until ctx is done.
func (s *Store) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	sweep := func() {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("token sweep", "error", err)
		}
	}
	// Sweep once at start: a revocation interrupted by a crash must finish
	// at unseal, not an interval later (and not never, for a server
	// restarted more often than the interval).
	sweep()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sweep()
		}
	}
}

// refuseBatchRevoke answers a revocation of a batch token: ErrBatchRevoke
// when it is valid, nothing (as for any unknown token) when it is not.
func (s *Store) refuseBatchRevoke(ctx context.Context, token string) error {
	if _, err := s.lookupBatch(ctx, token); err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return nil
		}
		return err
	}
	return ErrBatchRevoke
}
