package mask

import (
	"bytes"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
)

// pause lets a pause longer than FlushDelay pass on the fake clock and
// reports whether a flush timer was pending. A pending timer must come due
// at exactly DefaultFlushDelay: not a nanosecond before, and not after.
func pause(t *testing.T, clock *clocktest.Clock) bool {
	t.Helper()
	if clock.Timers() == 0 {
		return false
	}
	clock.Add(DefaultFlushDelay - time.Nanosecond)
	if clock.Timers() == 0 {
		t.Fatalf("flush timer ran before %v", DefaultFlushDelay)
	}
	clock.Add(time.Nanosecond)
	if n := clock.Timers(); n != 0 {
		t.Fatalf("%d flush timers still pending after %v", n, DefaultFlushDelay)
	}
	return true
}

const timerSecret = "s3cr3t-value-123"

func TestWriterPauses(t *testing.T) {
	// A step is a write, or "" for a pause longer than FlushDelay.
	tests := []struct {
		name  string
		steps []string
		want  []string // output after each step
	}{
		{"3-byte prefix released raw, rest masked",
			[]string{"pass=s3c", "", "r3t-value-123\n"},
			[]string{"pass=", "pass=s3c", "pass=s3c***\n"}},
		{"4-byte prefix masked, continuation joins the mask",
			[]string{"pass=s3cr", "", "3t-value-123\n"},
			[]string{"pass=", "pass=***", "pass=***\n"}},
		{"4-byte prefix masked even if it was not the secret",
			[]string{"pass=s3cr", "", "ibble\n"},
			[]string{"pass=", "pass=***", "pass=***ibble\n"}},
		{"prefix released raw, then not the secret",
			[]string{"x s3", "", "c-other\n"},
			[]string{"x ", "x s3", "x s3c-other\n"}},
		{"pause inside the secret after the mask",
			[]string{"a s3cr3t-v", "", "alue", "", "-123 b\n"},
			[]string{"a ", "a ***", "a ***", "a ***", "a *** b\n"}},
		{"progress output is never held",
			[]string{"45%\r", "46%\r"},
			[]string{"45%\r", "45%\r46%\r"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			clock := clocktest.New(time.Time{})
			w := newWriter(&out, []Secret{{Value: timerSecret}}, Options{}, clock.AfterFunc)
			for i, s := range tc.steps {
				if s == "" {
					if !pause(t, clock) {
						t.Fatalf("step %d: no flush timer pending", i)
					}
				} else if _, err := w.Write([]byte(s)); err != nil {
					t.Fatal(err)
				}
				if got := out.String(); got != tc.want[i] {
					t.Fatalf("after step %d (%q): output %q, want %q", i, s, got, tc.want[i])
				}
			}
			want := tc.want[len(tc.want)-1]
			if err := w.Close(); err != nil || out.String() != want {
				t.Fatalf("Close() = %v, output %q, want %q", err, out.String(), want)
			}
		})
	}
}

func TestWriterOneBytePerWriteWithPauses(t *testing.T) {
	var out bytes.Buffer
	clock := clocktest.New(time.Time{})
	w := newWriter(&out, []Secret{{Value: timerSecret}}, Options{}, clock.AfterFunc)
	for _, c := range []byte("x " + timerSecret + " y\n") {
		w.Write([]byte{c})
		pause(t, clock)
	}
	w.Close()
	if got, want := out.String(), "x s3c*** y\n"; got != want {
		t.Fatalf("output %q, want %q (at most 3 bytes revealed)", got, want)
	}
}

func TestWriterStaleTimer(t *testing.T) {
	var out bytes.Buffer
	clock := clocktest.New(time.Time{})
	var scheduled []func()
	after := func(d time.Duration, f func()) func() bool {
		scheduled = append(scheduled, f)
		return clock.AfterFunc(d, f)
	}
	w := newWriter(&out, []Secret{{Value: timerSecret}}, Options{}, after)
	w.Write([]byte("pass=s3cr"))
	stale := scheduled[0]
	w.Write([]byte("3t")) // stops the first timer, schedules another
	if len(scheduled) != 2 || clock.Timers() != 1 {
		t.Fatalf("after a new write: %d timers scheduled, %d pending; want the first stopped and one new", len(scheduled), clock.Timers())
	}
	stale() // a timer that fired just as the write came in
	if got := out.String(); got != "pass=" {
		t.Fatalf("stale timer flushed: output %q", got)
	}
	w.Close()
	if pause(t, clock) {
		t.Fatal("timer live after Close")
	}
	if got := out.String(); got != "pass=s3cr3t" {
		t.Fatalf("after Close: output %q, want the unfinished prefix as-is", got)
	}
}

func TestWriterNoTimerWhenNothingHeld(t *testing.T) {
	var out bytes.Buffer
	clock := clocktest.New(time.Time{})
	w := newWriter(&out, []Secret{{Value: timerSecret}}, Options{}, clock.AfterFunc)
	w.Write([]byte("line one\nline two\n"))
	if n := clock.Timers(); n != 0 {
		t.Fatalf("%d timers scheduled with nothing held", n)
	}
	w = newWriter(&out, []Secret{{Value: timerSecret}}, Options{FlushDelay: -1}, clock.AfterFunc)
	w.Write([]byte("s3c"))
	if clock.Timers() != 0 {
		t.Fatal("timer scheduled with FlushDelay < 0")
	}
}
