package mfa

import (
	"sync"
	"time"
)

// maxPassed bounds the tokens whose last MFA time is remembered; when full,
// marks older than passedKeep are swept, then the oldest goes.
const (
	maxPassed  = 16384
	passedKeep = 24 * time.Hour
)

// passedTimes records when each token (by accessor) last passed MFA: the
// login that issued it, or a path MFA code it sent. Policy conditions'
// mfa_max_age read it. In memory: a restart forgets it, so conditions
// then ask for MFA again (they deny, never allow, on a missing time).
type passedTimes struct {
	mu sync.RWMutex
	at map[string]time.Time
}

// MarkPassed records that the token with accessor passed MFA at t.
func (s *Store) MarkPassed(accessor string, t time.Time) {
	if accessor == "" {
		return
	}
	p := &s.passed
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.at == nil {
		p.at = map[string]time.Time{}
	}
	if _, ok := p.at[accessor]; !ok && len(p.at) >= maxPassed {
		var oldest string
		for a, when := range p.at {
			if t.Sub(when) > passedKeep {
				delete(p.at, a)
			} else if oldest == "" || when.Before(p.at[oldest]) {
				oldest = a
			}
		}
		if len(p.at) >= maxPassed {
			delete(p.at, oldest)
		}
	}
	p.at[accessor] = t
}

// LastPassed is when the token with accessor last passed MFA; zero when
// never (or forgotten).
func (s *Store) LastPassed(accessor string) time.Time {
	if s == nil || accessor == "" {
		return time.Time{}
	}
	p := &s.passed
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.at[accessor]
}

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }
