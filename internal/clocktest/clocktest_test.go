package clocktest_test

import (
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
