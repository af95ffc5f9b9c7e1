package monitor_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/monitor"
)

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"keyward_requests_total", true},
		{"_x", true},
		{"a:b_c9", true},
		{"A", true},
		{"", false},
		{"9lives", false},
		{"with-dash", false},
		{"with space", false},
		{"x\ny", false},
		{"é", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := monitor.ValidName(tc.name); got != tc.ok {
				t.Errorf("ValidName(%q) = %v, want %v", tc.name, got, tc.ok)
			}
		})
	}
}

func TestCounterAndGauge(t *testing.T) {
	r := monitor.NewRegistry()
	c := r.Counter("monitortest_counter_total", "A test counter.")
	if c2 := r.Counter("monitortest_counter_total", "other help"); c2 != c {
		t.Fatal("Counter did not return the registered counter")
	}
	g := r.Gauge("monitortest_gauge", "A test gauge.")
	if g2 := r.Gauge("monitortest_gauge", ""); g2 != g {
		t.Fatal("Gauge did not return the registered gauge")
	}
	c0 := c.Value()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Inc()
				r.Counter("monitortest_counter_total", "").Add(2)
				g.Add(1)
				g.Add(-1)
			}
		})
	}
	wg.Wait()
	if got := c.Value() - c0; got != 8*3000 {
		t.Errorf("counter delta = %d, want %d", got, 8*3000)
	}
	if g.Value() != 0 {
		t.Errorf("gauge = %d after balanced adds", g.Value())
	}
	g.Set(-7)
	if g.Value() != -7 {
		t.Errorf("gauge = %d after Set(-7)", g.Value())
	}
	var buf bytes.Buffer
	if err := r.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# HELP monitortest_counter_total A test counter.\n# TYPE monitortest_counter_total counter\nmonitortest_counter_total ",
		"# HELP monitortest_gauge A test gauge.\n# TYPE monitortest_gauge gauge\nmonitortest_gauge -7\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestRegistrationPanics(t *testing.T) {
	r := monitor.NewRegistry()
	r.Counter("monitortest_taken_total", "")
	r.Gauge("monitortest_taken_gauge", "")
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"invalid counter name", func() { r.Counter("bad-name", "") }},
		{"invalid gauge name", func() { r.Gauge("", "") }},
		{"counter name used by gauge", func() { r.Gauge("monitortest_taken_total", "") }},
		{"gauge name used by counter", func() { r.Counter("monitortest_taken_gauge", "") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f()
		})
	}
}

// Two registries, as two nodes in one process hold, share no metric: the
// same name counts apart in each.
func TestRegistriesAreApart(t *testing.T) {
	t.Parallel()
	a, b := monitor.NewRegistry(), monitor.NewRegistry()
	a.Gauge("monitortest_apart", "").Set(3)
	b.Gauge("monitortest_apart", "").Add(5)
	a.Counter("monitortest_apart_total", "").Inc()
	a.Requests().Mount("secret/").Observe("read", 200, time.Millisecond)
	if got := a.Gauge("monitortest_apart", "").Value(); got != 3 {
		t.Errorf("registry a gauge = %d, want 3", got)
	}
	if got := b.Gauge("monitortest_apart", "").Value(); got != 5 {
		t.Errorf("registry b gauge = %d, want 5", got)
	}
	mfs, err := b.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 {
		t.Errorf("registry b holds %d metric families, want 1 (a's leaked): %v", len(mfs), mfs)
	}
}

var update = flag.Bool("update", false, "rewrite testdata/golden.prom")

// goldenRegistry holds one of each kind of metric with fixed values.
func goldenRegistry() *monitor.Registry {
	r := monitor.NewRegistry()
	r.Counter("keyward_requests_total", "Requests handled.").Add(41)
	r.Gauge("keyward_leases_irrevocable", "Leases whose revocation\ngave up, see \\docs.").Set(-1)
	r.Counter("keyward_database_rotations_total", "")
	r.Counter("keyward_big_total", "Large.").Add(1 << 53)
	q := r.Requests() // shares keyward_requests_total: one more
	q.Mount("secret/").Observe("read", 200, 3*time.Millisecond)
	return r
}

// The exposition format is compared byte for byte with testdata/golden.prom
// (go test ./internal/monitor -update rewrites it; review the diff).
func TestWriteGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := goldenRegistry().WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/golden.prom", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/golden.prom")
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(want) {
		t.Errorf("output differs from golden:\n got: %q\nwant: %q", buf.String(), want)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	if err := goldenRegistry().WritePrometheus(failWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("err = %v, want the writer's error", err)
	}
}

func TestToJSON(t *testing.T) {
	mfs, err := goldenRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 14, 58, 1, 500, time.FixedZone("CET", 3600))
	raw, err := json.Marshal(monitor.ToJSON(mfs, at))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Timestamp":"2026-12-07 13:58:01 +0000 UTC",` +
		`"Gauges":[{"Name":"keyward_leases_irrevocable","Value":-1,"Labels":{}}],"Points":[],` +
		`"Counters":[{"Name":"keyward_big_total","Count":9007199254740992,"Sum":9007199254740992,"Labels":{}},` +
		`{"Name":"keyward_database_rotations_total","Count":0,"Sum":0,"Labels":{}},` +
		`{"Name":"keyward_mount_requests_total","Count":1,"Sum":1,"Labels":{"mount":"secret/","operation":"read","status":"2xx"}},` +
		`{"Name":"keyward_requests_total","Count":42,"Sum":42,"Labels":{}}],` +
		`"Samples":[{"Name":"keyward_request_duration_seconds","Count":1,"Sum":0.003,"Mean":0.003,"Labels":{"mount":"secret/","operation":"read"}}]}`
	if string(raw) != want {
		t.Errorf("got  %s\nwant %s", raw, want)
	}
	empty, _ := json.Marshal(monitor.ToJSON(nil, at))
	if string(empty) != `{"Timestamp":"2026-12-07 13:58:01 +0000 UTC","Gauges":[],"Points":[],"Counters":[],"Samples":[]}` {
		t.Errorf("empty = %s", empty)
	}
}

func TestGatherSorted(t *testing.T) {
	r := monitor.NewRegistry()
	r.Gauge("monitortest_zz", "")
	r.Counter("monitortest_aa_total", "")
	r.Requests()
	s, err := r.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(s); i++ {
		if s[i-1].GetName() >= s[i].GetName() {
			t.Fatalf("not sorted: %q before %q", s[i-1].GetName(), s[i].GetName())
		}
	}
}

// series returns the text exposition's sample lines of r that start with
// name followed by "{" or " ".
func series(t *testing.T, r *monitor.Registry, name string) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(l, name+"{") || strings.HasPrefix(l, name+" ") {
			out = append(out, l)
		}
	}
	return out
}

// Labels come from fixed sets and the mount table: an unknown operation or
// status is "other", no mount is "unknown", and only the mount path is a
// label, whatever the caller sent.
func TestRequestLabelsAreBounded(t *testing.T) {
	r := monitor.NewRegistry()
	q := r.Requests()
	q.Mount("secret/").Observe("read", 200, time.Millisecond)
	q.Mount("secret/").Observe("read", 403, time.Millisecond)
	q.Mount("secret/").Observe("frobnicate", 999, time.Millisecond)
	q.Mount("").Observe("list", 404, time.Millisecond)
	q.Mount(monitor.UnknownMount).Observe("list", 404, time.Millisecond)
	got := series(t, r, "keyward_mount_requests_total")
	want := []string{
		`keyward_mount_requests_total{mount="secret/",operation="other",status="other"} 1`,
		`keyward_mount_requests_total{mount="secret/",operation="read",status="2xx"} 1`,
		`keyward_mount_requests_total{mount="secret/",operation="read",status="4xx"} 1`,
		`keyward_mount_requests_total{mount="unknown",operation="list",status="4xx"} 2`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := series(t, r, "keyward_request_duration_seconds_count"); len(got) != 3 {
		t.Errorf("duration series = %q, want secret/ read, secret/ other, unknown list", got)
	}
	if got := r.Counter("keyward_requests_total", "").Value(); got != 5 {
		t.Errorf("keyward_requests_total = %d, want 5", got)
	}
}

// A disabled or moved mount's series go with it.
func TestForgetDropsAMountsSeries(t *testing.T) {
	r := monitor.NewRegistry()
	q := r.Requests()
	q.Mount("old/").Observe("read", 200, time.Millisecond)
	q.Mount("kept/").Observe("read", 200, time.Millisecond)
	q.Forget("old/")
	for _, name := range []string{"keyward_mount_requests_total", "keyward_request_duration_seconds_count"} {
		got := series(t, r, name)
		if len(got) != 1 || !strings.Contains(got[0], `mount="kept/"`) {
			t.Errorf("%s after Forget = %q, want kept/ only", name, got)
		}
	}
	q.Mount("old/").Observe("read", 200, time.Millisecond) // mounted again
	if got := series(t, r, "keyward_mount_requests_total"); len(got) != 2 {
		t.Errorf("series after a new mount at old/ = %q", got)
	}
}

// Once a label set has been seen, an observation allocates nothing: the
// children are resolved once per mount, operation and status class.
func TestObserveDoesNotAllocate(t *testing.T) {
	q := monitor.NewRegistry().Requests()
	m := q.Mount("secret/")
	m.Observe("read", 200, time.Millisecond)
	if n := testing.AllocsPerRun(100, func() { q.Mount("secret/").Observe("read", 200, time.Millisecond) }); n != 0 {
		t.Errorf("Observe allocates %v times", n)
	}
}

func TestRuntimeCollectors(t *testing.T) {
	r := monitor.NewRegistry()
	r.AddRuntimeCollectors()
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_info", "process_resident_memory_bytes",
		"process_start_time_seconds", "process_open_fds"} {
		if len(series(t, r, name)) == 0 {
			t.Errorf("no %s", name)
		}
	}
}

func BenchmarkCounterInc(b *testing.B) {
	c := monitor.NewRegistry().Counter("monitortest_bench_total", "")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}

// BenchmarkObserve is the request metrics' share of a request: the mount
// lookup, the histogram and the status counter, from one caller and from
// parallel ones (which contend for the same series).
func BenchmarkObserve(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		q := monitor.NewRegistry().Requests()
		b.ReportAllocs()
		for b.Loop() {
			q.Mount("secret/").Observe("read", 200, time.Millisecond)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		q := monitor.NewRegistry().Requests()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				q.Mount("secret/").Observe("read", 200, time.Millisecond)
			}
		})
	})
}
