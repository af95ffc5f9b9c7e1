// Package clocktest is test support for code that takes its clock as a
// func() time.Time: a settable clock, and a bounded wait for a condition
// that another goroutine makes true. It is imported only by tests.
package clocktest

import (
	"sync"
	"testing"
	"time"
)

// Clock is a settable clock, safe for concurrent use. Pass its Now method
// where the code under test takes a clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock showing start, or a fixed date when start is zero.
func New(start time.Time) *Clock {
	if start.IsZero() {
		start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	return &Clock{t: start}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Wait is how long Eventually waits at most: a bound for a loaded machine,
// never a timing assertion.
const Wait = 2 * time.Minute

// Eventually polls cond every few milliseconds until it holds, failing the
// test with what if it does not within Wait.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", Wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
