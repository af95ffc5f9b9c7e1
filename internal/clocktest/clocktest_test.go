package clocktest_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
)

func TestClock(t *testing.T) {
	c := clocktest.New(time.Time{})
	start := c.Now()
	c.Add(time.Hour)
	if got := c.Now().Sub(start); got != time.Hour {
		t.Fatalf("after Add(1h) the clock moved %v", got)
	}
	at := time.Unix(1_700_000_000, 0)
	c.Set(at)
	if !c.Now().Equal(at) {
		t.Fatalf("after Set the clock shows %v, want %v", c.Now(), at)
	}
}

func TestEventually(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			n.Add(1)
		}
	}()
	clocktest.Eventually(t, "three increments", func() bool { return n.Load() == 3 })
}

// A timer runs when the clock reaches its time and not before, timers run
// in the order they come due, and a stopped timer never runs.
func TestAfterFunc(t *testing.T) {
	c := clocktest.New(time.Time{})
	var ran []string
	c.AfterFunc(2*time.Second, func() { ran = append(ran, "2s") })
	c.AfterFunc(time.Second, func() { ran = append(ran, "1s") })
	stop := c.AfterFunc(time.Second, func() { ran = append(ran, "stopped") })
	if !stop() {
		t.Fatal("stop of a pending timer reported false")
	}
	if stop() {
		t.Fatal("second stop reported true")
	}
	c.Add(time.Second - time.Nanosecond)
	if len(ran) != 0 || c.Timers() != 2 {
		t.Fatalf("before the first deadline: ran %q, %d timers pending", ran, c.Timers())
	}
	c.Add(time.Hour)
	if want := []string{"1s", "2s"}; !slices.Equal(ran, want) || c.Timers() != 0 {
		t.Fatalf("after both deadlines: ran %q, want %q; %d timers pending", ran, want, c.Timers())
	}
	// A timer's function may set another timer; one already due runs at once.
	c.AfterFunc(time.Second, func() { c.AfterFunc(0, func() { ran = append(ran, "chained") }) })
	c.Add(time.Second)
	if ran[len(ran)-1] != "chained" {
		t.Fatalf("chained timer did not run: %q", ran)
	}
}

func TestBuffer(t *testing.T) {
	var b clocktest.Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { fmt.Fprint(&b, "abc") })
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("abc", 4) {
		t.Fatalf("String() = %q after four concurrent writes", got)
	}
	got := b.Bytes()
	got[0] = 'x'
	if b.String()[0] != 'a' {
		t.Fatal("Bytes() shares the buffer's memory")
	}
}
