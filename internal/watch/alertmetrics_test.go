package watch_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/monitor"
	"github.com/keyward/keyward/internal/watch"
)

// alertSeries returns the sample lines of r's keyward_alerts_* metrics.
func alertSeries(t *testing.T, r *monitor.Registry) string {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(l, "keyward_alerts_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func alert(id, rule string, sev watch.Severity, st watch.AlertStatus, count uint64) watch.Alert {
	at := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	return watch.Alert{ID: id, Rule: rule, Severity: sev, Status: st, Count: count, FirstSeen: at, LastSeen: at,
		GroupKey: rule + "|entity:e1", Identity: watch.Identity{EntityID: "e1"}, Summary: "test alert"}
}

// Each alert is counted once, however often it is notified (grouped events,
// acknowledgement, resolution), and the open gauge follows its status.
func TestAlertMetricsCountEachAlertOnce(t *testing.T) {
	r := monitor.NewRegistry()
	m := watch.NewAlertMetrics(r, 0)
	m.Notify(alert("a1", "off-hours", watch.SeverityMedium, watch.AlertOpen, 1))
	m.Notify(alert("a1", "off-hours", watch.SeverityMedium, watch.AlertOpen, 2))
	m.Notify(alert("a1", "off-hours", watch.SeverityMedium, watch.AlertOpen, 7))
	m.Notify(alert("a2", "root-token", watch.SeverityCritical, watch.AlertOpen, 1))
	m.Notify(alert("a3", "off-hours", watch.SeverityMedium, watch.AlertOpen, 1))
	want := `keyward_alerts_open{rule="off-hours",severity="medium"} 2
keyward_alerts_open{rule="root-token",severity="critical"} 1
keyward_alerts_total{rule="off-hours",severity="medium"} 2
keyward_alerts_total{rule="root-token",severity="critical"} 1`
	if got := alertSeries(t, r); got != want {
		t.Fatalf("after raising:\n%s\nwant:\n%s", got, want)
	}
	// Acknowledged is still open; resolved is not; a repeated resolution
	// changes nothing.
	m.Notify(alert("a2", "root-token", watch.SeverityCritical, watch.AlertAcknowledged, 1))
	m.Notify(alert("a1", "off-hours", watch.SeverityMedium, watch.AlertResolved, 7))
	m.Notify(alert("a1", "off-hours", watch.SeverityMedium, watch.AlertResolved, 7))
	want = `keyward_alerts_open{rule="off-hours",severity="medium"} 1
keyward_alerts_open{rule="root-token",severity="critical"} 1
keyward_alerts_total{rule="off-hours",severity="medium"} 2
keyward_alerts_total{rule="root-token",severity="critical"} 1`
	if got := alertSeries(t, r); got != want {
		t.Fatalf("after ack and resolve:\n%s\nwant:\n%s", got, want)
	}
	// A severity raised later does not move the alert to other labels: it
	// is counted and gauged where it was first seen.
	m.Notify(alert("a3", "off-hours", watch.SeverityHigh, watch.AlertResolved, 3))
	if got := alertSeries(t, r); !strings.Contains(got, `keyward_alerts_open{rule="off-hours",severity="medium"} 0`) ||
		strings.Contains(got, `severity="high"`) {
		t.Errorf("after resolving a3 with a new severity:\n%s", got)
	}
	// An alert first seen already resolved is counted, never open.
	m.Notify(alert("a4", "bulk-read", watch.SeverityHigh, watch.AlertResolved, 1))
	if got := alertSeries(t, r); !strings.Contains(got, `keyward_alerts_total{rule="bulk-read",severity="high"} 1`) ||
		!strings.Contains(got, `keyward_alerts_open{rule="bulk-read",severity="high"} 0`) {
		t.Errorf("after a4:\n%s", got)
	}
}

// At most maxTracked ids are remembered: resolved ones are forgotten first,
// and forgetting an open one takes it out of the gauge, which stays equal to
// the open alerts remembered.
func TestAlertMetricsMemoryIsBounded(t *testing.T) {
	r := monitor.NewRegistry()
	m := watch.NewAlertMetrics(r, 3)
	m.Notify(alert("o1", "brute-force", watch.SeverityHigh, watch.AlertOpen, 1))
	m.Notify(alert("r1", "brute-force", watch.SeverityHigh, watch.AlertResolved, 1))
	m.Notify(alert("o2", "brute-force", watch.SeverityHigh, watch.AlertOpen, 1))
	m.Notify(alert("o3", "brute-force", watch.SeverityHigh, watch.AlertOpen, 1)) // forgets r1
	if m.Tracked() != 3 {
		t.Fatalf("tracked = %d, want 3", m.Tracked())
	}
	if got := alertSeries(t, r); !strings.Contains(got, `keyward_alerts_open{rule="brute-force",severity="high"} 3`) {
		t.Fatalf("open gauge after forgetting a resolved id:\n%s", got)
	}
	for i := range 100 {
		m.Notify(alert(fmt.Sprintf("n%d", i), "brute-force", watch.SeverityHigh, watch.AlertOpen, 1))
	}
	if m.Tracked() != 3 {
		t.Errorf("tracked = %d after 100 more, want 3", m.Tracked())
	}
	got := alertSeries(t, r)
	if !strings.Contains(got, `keyward_alerts_open{rule="brute-force",severity="high"} 3`) ||
		!strings.Contains(got, `keyward_alerts_total{rule="brute-force",severity="high"} 104`) {
		t.Errorf("after 100 more open alerts:\n%s", got)
	}
	// A remembered id still resolves; a forgotten one is counted again (the
	// documented price of the bound).
	m.Notify(alert("n99", "brute-force", watch.SeverityHigh, watch.AlertResolved, 1))
	if got := alertSeries(t, r); !strings.Contains(got, `keyward_alerts_open{rule="brute-force",severity="high"} 2`) {
		t.Errorf("after resolving n99:\n%s", got)
	}
}

// Label values stay bounded whatever the detectors name: an unknown
// severity and an empty rule are "unknown", and past MaxRuleLabels rule
// names the rest share "other".
func TestAlertMetricsLabelsAreBounded(t *testing.T) {
	r := monitor.NewRegistry()
	m := watch.NewAlertMetrics(r, 0)
	m.Notify(alert("x1", "", watch.Severity(42), watch.AlertOpen, 1))
	for i := range watch.MaxRuleLabels + 10 {
		m.Notify(alert(fmt.Sprintf("r%d", i), fmt.Sprintf("rule-%d", i), watch.SeverityLow, watch.AlertOpen, 1))
	}
	got := alertSeries(t, r)
	if !strings.Contains(got, `keyward_alerts_total{rule="unknown",severity="unknown"} 1`) {
		t.Errorf("no unknown/unknown series:\n%s", got)
	}
	if !strings.Contains(got, `keyward_alerts_total{rule="other",severity="low"} 10`) {
		t.Errorf("rules past the cap not under other")
	}
	if n := strings.Count(got, "keyward_alerts_total{"); n != watch.MaxRuleLabels+2 { // + other + unknown
		t.Errorf("%d alert counter series, want %d", n, watch.MaxRuleLabels+2)
	}
	// An alert without an id is counted each time (it cannot be told
	// apart) and never enters the gauge.
	m.Notify(alert("", "no-id", watch.SeverityInfo, watch.AlertOpen, 1))
	m.Notify(alert("", "no-id", watch.SeverityInfo, watch.AlertOpen, 1))
	got = alertSeries(t, r)
	if !strings.Contains(got, `keyward_alerts_total{rule="other",severity="info"} 2`) ||
		strings.Contains(got, `keyward_alerts_open{rule="other",severity="info"}`) {
		t.Errorf("alerts without an id:\n%s", got)
	}
}

// Notify is safe from many detectors at once, and two registries (two
// nodes) count apart.
func TestAlertMetricsConcurrentAndApart(t *testing.T) {
	ra, rb := monitor.NewRegistry(), monitor.NewRegistry()
	a := watch.NewAlertMetrics(ra, 0)
	watch.NewAlertMetrics(rb, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				id := fmt.Sprintf("g%d-%d", g, i%10)
				a.Notify(alert(id, "stolen-token", watch.SeverityCritical, watch.AlertOpen, uint64(i)))
			}
		})
	}
	wg.Wait()
	if got := alertSeries(t, ra); !strings.Contains(got, `keyward_alerts_total{rule="stolen-token",severity="critical"} 80`) {
		t.Errorf("registry a:\n%s", got)
	}
	if got := alertSeries(t, rb); got != "" {
		t.Errorf("registry b has alert series:\n%s", got)
	}
}
