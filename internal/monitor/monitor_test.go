package monitor_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

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
	if got := a.Gauge("monitortest_apart", "").Value(); got != 3 {
		t.Errorf("registry a gauge = %d, want 3", got)
	}
	if got := b.Gauge("monitortest_apart", "").Value(); got != 5 {
		t.Errorf("registry b gauge = %d, want 5", got)
	}
	if got := len(b.Snapshot()); got != 1 {
		t.Errorf("registry b holds %d metrics, want 1 (a's counter leaked): %+v", got, b.Snapshot())
	}
}

func goldenSamples() []monitor.Sample {
	return []monitor.Sample{
		{Name: "keyward_requests_total", Help: "Requests handled.", Type: monitor.TypeCounter, Value: 42},
		{Name: "keyward_leases_irrevocable", Help: "Leases whose revocation\ngave up, see \\docs.", Type: monitor.TypeGauge, Value: -1},
		{Name: "keyward_database_rotations_total", Type: monitor.TypeCounter, Value: 0},
		{Name: "keyward_big_total", Help: "Large.", Type: monitor.TypeCounter, Value: 1<<63 - 1},
	}
}

// The exposition format is compared byte for byte with testdata/golden.prom.
func TestWriteGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := monitor.Write(&buf, goldenSamples()); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/golden.prom")
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(want) {
		t.Errorf("output differs from golden:\n got: %q\nwant: %q", buf.String(), want)
	}
}

func TestWriteRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    monitor.Sample
	}{
		{"bad name", monitor.Sample{Name: "a b", Type: monitor.TypeGauge}},
		{"bad type", monitor.Sample{Name: "ok", Type: "histogram"}},
		{"no type", monitor.Sample{Name: "ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := monitor.Write(&bytes.Buffer{}, []monitor.Sample{tc.s}); err == nil {
				t.Error("no error")
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	if err := monitor.Write(failWriter{}, goldenSamples()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("err = %v, want the writer's error", err)
	}
}

func TestToJSON(t *testing.T) {
	raw, err := json.Marshal(monitor.ToJSON(goldenSamples()))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Counters":[{"Name":"keyward_big_total","Count":9223372036854775807},` +
		`{"Name":"keyward_database_rotations_total","Count":0},{"Name":"keyward_requests_total","Count":42}],` +
		`"Gauges":[{"Name":"keyward_leases_irrevocable","Value":-1}]}`
	if string(raw) != want {
		t.Errorf("got  %s\nwant %s", raw, want)
	}
	empty, _ := json.Marshal(monitor.ToJSON(nil))
	if string(empty) != `{"Counters":[],"Gauges":[]}` {
		t.Errorf("empty = %s", empty)
	}
}

func TestSnapshotSorted(t *testing.T) {
	r := monitor.NewRegistry()
	r.Gauge("monitortest_zz", "")
	r.Counter("monitortest_aa_total", "")
	s := r.Snapshot()
	for i := 1; i < len(s); i++ {
		if s[i-1].Name >= s[i].Name {
			t.Fatalf("not sorted: %q before %q", s[i-1].Name, s[i].Name)
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
