package watch

import "sync"

// Ring holds the most recent events in a fixed array: Add overwrites the
// oldest once full, in O(1) and without allocating. It is safe for
// concurrent use.
type Ring struct {
	mu   sync.Mutex
	buf  []Event
	next int  // index Add writes next
	full bool // buf has wrapped at least once
}

// NewRing returns a ring holding up to capacity events (at least 1).
func NewRing(capacity int) *Ring {
	return &Ring{buf: make([]Event, max(capacity, 1))}
}

// Add stores e, dropping the oldest event when the ring is full.
func (r *Ring) Add(e *Event) {
	r.mu.Lock()
	r.buf[r.next] = *e
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// Snapshot returns the held events, oldest first, in a new slice.
func (r *Ring) Snapshot() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]Event(nil), r.buf[:r.next]...)
	}
	out := make([]Event, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}

// Cap returns the ring's capacity.
func (r *Ring) Cap() int { return len(r.buf) }

// Reset empties the ring (at seal: a sealed node keeps no access history).
func (r *Ring) Reset() {
	r.mu.Lock()
	clear(r.buf)
	r.next, r.full = 0, false
	r.mu.Unlock()
}
