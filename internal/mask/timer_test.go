package mask

import (
	"bytes"
	"testing"
	"time"
)

// fakeClock records the callbacks a Writer schedules; the test fires them.
type fakeClock struct {
	delays []time.Duration
	fns    []func()
	live   []bool
}

func (c *fakeClock) after(d time.Duration, f func()) func() bool {
	i := len(c.fns)
	c.delays = append(c.delays, d)
	c.fns = append(c.fns, f)
	c.live = append(c.live, true)
	return func() bool {
		was := c.live[i]
		c.live[i] = false
		return was
	}
}

// fire runs the latest scheduled callback if it is still live, as a timer
// expiring would, and reports whether there was one.
func (c *fakeClock) fire() bool {
	if len(c.fns) == 0 || !c.live[len(c.fns)-1] {
		return false
	}
	c.live[len(c.fns)-1] = false
	c.fns[len(c.fns)-1]()
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
			clock := &fakeClock{}
			w := newWriter(&out, []Secret{{Value: timerSecret}}, Options{}, clock.after)
			for i, s := range tc.steps {
				if s == "" {
					if !clock.fire() {
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
			for _, d := range clock.delays {
				if d != DefaultFlushDelay {
					t.Fatalf("timer delay %v, want %v", d, DefaultFlushDelay)
				}
			}
		})
	}
}

func TestWriterOneBytePerWriteWithPauses(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{}
	w := newWriter(&out, []Secret{{Value: timerSecret}}, Options{}, clock.after)
	for _, c := range []byte("x " + timerSecret + " y\n") {
		w.Write([]byte{c})
		clock.fire()
	}
	w.Close()
	if got, want := out.String(), "x s3c*** y\n"; got != want {
		t.Fatalf("output %q, want %q (at most 3 bytes revealed)", got, want)
	}
}

func TestWriterStaleTimer(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{}
	w := newWriter(&out, []Secret{{Value: timerSecret}}, Options{}, clock.after)
	w.Write([]byte("pass=s3cr"))
	stale := clock.fns[0]
	w.Write([]byte("3t")) // stops the first timer, schedules another
	if clock.live[0] {
		t.Fatal("first timer still live after a new write")
	}
	stale() // a timer that fired just as the write came in
	if got := out.String(); got != "pass=" {
		t.Fatalf("stale timer flushed: output %q", got)
	}
	w.Close()
	if clock.fire() {
		t.Fatal("timer live after Close")
	}
	if got := out.String(); got != "pass=s3cr3t" {
		t.Fatalf("after Close: output %q, want the unfinished prefix as-is", got)
	}
}

func TestWriterNoTimerWhenNothingHeld(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{}
	w := newWriter(&out, []Secret{{Value: timerSecret}}, Options{}, clock.after)
	w.Write([]byte("line one\nline two\n"))
	if len(clock.fns) != 0 {
		t.Fatalf("%d timers scheduled with nothing held", len(clock.fns))
	}
	w = newWriter(&out, []Secret{{Value: timerSecret}}, Options{FlushDelay: -1}, clock.after)
	w.Write([]byte("s3c"))
	if len(clock.fns) != 0 {
		t.Fatal("timer scheduled with FlushDelay < 0")
	}
}
