// Package clocktest is test support for concurrent code: a settable clock
// (with timers) for code that takes its clock as a func() time.Time, a
// bounded wait for a condition another goroutine makes true, and a buffer
// that goroutines can write logs or output to while the test reads it. It
// is imported only by tests.
package clocktest

import (
	"bytes"
	"slices"
	"sync"
	"testing"
	"time"
)

// Clock is a settable clock, safe for concurrent use. Pass its Now method
// where the code under test takes a clock, and its AfterFunc where it
// takes a timer.
type Clock struct {
	mu     sync.Mutex
	t      time.Time
	timers []*timer
}

type timer struct {
	at time.Time
	f  func()
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

// Add moves the clock on by d, running the timers that come due.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	c.fire()
}

// Set sets the clock to t, running the timers that come due.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
	c.fire()
}

// AfterFunc arranges for f to run once the clock has been moved to d past
// its present time, on the goroutine that moves it: the fake counterpart of
// time.AfterFunc. stop cancels f and reports whether it did, as
// time.Timer.Stop does.
func (c *Clock) AfterFunc(d time.Duration, f func()) (stop func() bool) {
	c.mu.Lock()
	tm := &timer{at: c.t.Add(d), f: f}
	c.timers = append(c.timers, tm)
	c.mu.Unlock()
	if d <= 0 {
		c.fire()
	}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.timers, tm)
		if i < 0 {
			return false
		}
		c.timers = slices.Delete(c.timers, i, i+1)
		return true
	}
}

// Timers returns how many timers are waiting to run.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// fire runs the due timers, earliest first, without holding the lock, so a
// timer's function may read the clock or set another timer.
func (c *Clock) fire() {
	for {
		c.mu.Lock()
		next := -1
		for i, tm := range c.timers {
			if !tm.at.After(c.t) && (next < 0 || tm.at.Before(c.timers[next].at)) {
				next = i
			}
		}
		if next < 0 {
			c.mu.Unlock()
			return
		}
		tm := c.timers[next]
		c.timers = slices.Delete(c.timers, next, next+1)
		c.mu.Unlock()
		tm.f()
	}
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
		time.Sleep(2 * time.Millisecond)
	}
}

// Buffer is a bytes.Buffer safe for concurrent use: a sink for logs or
// output that the code under test writes from its own goroutines while the
// test reads it. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Bytes returns a copy of what was written.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}
