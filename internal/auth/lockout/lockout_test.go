package lockout_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auth/lockout"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

func TestCanonical(t *testing.T) {
	for _, in := range []string{"alice", "Alice", " alice", "alice ", "ALICE", "\u00a0alice", "ａｌｉｃｅ", "ＡＬＩＣＥ"} {
		if got := lockout.Canonical(in); got != "alice" {
			t.Errorf("Canonical(%q) = %q, want alice", in, got)
		}
	}
}

func TestLockoutLifecycle(t *testing.T) {
	ctx := context.Background()
	s := &logicaltest.InmemStorage{}
	clk := clocktest.New(time.Unix(1_700_000_000, 0))
	tr := lockout.New("lockout/", clk.Now)
	cfg := lockout.Config{Threshold: 3, Duration: time.Minute, CounterReset: time.Minute}
	variants := []string{"alice", "Alice", " ALICE"}
	for i, v := range variants {
		locked, err := tr.Fail(ctx, s, cfg, v)
		if err != nil {
			t.Fatal(err)
		}
		if want := i == 2; locked != want {
			t.Fatalf("Fail #%d (%q) locked = %v, want %v", i+1, v, locked, want)
		}
	}
	if l, _ := tr.Locked(ctx, s, cfg, "alice "); !l {
		t.Fatal("alice not locked after threshold failures under name variants")
	}
	if l, _ := tr.Locked(ctx, s, cfg, "bob"); l {
		t.Fatal("bob locked")
	}
	// A new tracker over the same storage (a restart, a new leader) sees it.
	if l, _ := lockout.New("lockout/", clk.Now).Locked(ctx, s, cfg, "alice"); !l {
		t.Fatal("lockout lost across trackers")
	}
	clk.Add(61 * time.Second)
	if l, _ := tr.Locked(ctx, s, cfg, "alice"); l {
		t.Fatal("still locked after lockout_duration")
	}
	// After the lockout ends the count starts over.
	if locked, _ := tr.Fail(ctx, s, cfg, "alice"); locked {
		t.Fatal("one failure after a finished lockout relocked")
	}
}

func TestCounterResetAndSuccess(t *testing.T) {
	ctx := context.Background()
	s := &logicaltest.InmemStorage{}
	clk := clocktest.New(time.Unix(1_700_000_000, 0))
	tr := lockout.New("l/", clk.Now)
	cfg := lockout.Config{Threshold: 2, Duration: time.Hour, CounterReset: time.Minute}
	tr.Fail(ctx, s, cfg, "bob")
	clk.Add(2 * time.Minute)
	if locked, _ := tr.Fail(ctx, s, cfg, "bob"); locked {
		t.Fatal("failures outside the reset window added up")
	}
	if err := tr.Succeed(ctx, s, "bob"); err != nil {
		t.Fatal(err)
	}
	if locked, _ := tr.Fail(ctx, s, cfg, "bob"); locked {
		t.Fatal("success did not clear the counter")
	}
	disabled := cfg
	disabled.Disable = true
	for range 5 {
		tr.Fail(ctx, s, disabled, "carol")
	}
	if l, _ := tr.Locked(ctx, s, disabled, "carol"); l {
		t.Fatal("locked with lockout_disable")
	}
}
