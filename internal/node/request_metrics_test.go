package node_test

import (
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/watch"
)

// scrape returns n's sys/metrics in the Prometheus text format.
func scrape(t *testing.T, n *nodetest.Node) string {
	t.Helper()
	code, _, text := call(t, n, "GET", "sys/metrics?format=prometheus", n.RootToken.Reveal(), "")
	if code != 200 {
		t.Fatalf("GET sys/metrics?format=prometheus = %d\n%s", code, text)
	}
	return text
}

// Requests are timed and counted by mount path, operation and status
// class: the mount, never the request path (which can hold anything a
// caller chooses), and one "unknown" for every path nothing is mounted at.
// The Go and process collectors are there too.
func TestRequestMetricsByMount(t *testing.T) {
	n := nodetest.Start(t)
	root := n.RootToken.Reveal()
	seg := "seg" + strings.ToLower(rand.Text()[:10])
	canary := "canary-" + rand.Text()
	if code, _, body := call(t, n, "PUT", "secret/data/"+seg, root, `{"data":{"password":"`+canary+`"}}`); code != 200 {
		t.Fatalf("write: %d %s", code, body)
	}
	for range 3 {
		if code, _, body := call(t, n, "GET", "secret/data/"+seg, root, ""); code != 200 {
			t.Fatalf("read: %d %s", code, body)
		}
	}
	if code, _, _ := call(t, n, "GET", "secret/data/"+seg, "", ""); code != 403 {
		t.Fatalf("read without a token = %d, want 403", code)
	}
	call(t, n, "GET", "sys/health", "", "") // served sealed or not: still sys/
	call(t, n, "GET", "sys/mounts", root, "")
	if code, _, _ := call(t, n, "GET", "nothing-"+seg+"/x", root, ""); code != 404 {
		t.Fatalf("read of an unmounted path = %d, want 404", code)
	}

	text := scrape(t, n)
	for _, want := range []string{
		`keyward_request_duration_seconds_count{mount="secret/",operation="read"} 4` + "\n",
		`keyward_request_duration_seconds_bucket{mount="secret/",operation="read",le="+Inf"} 4` + "\n",
		`keyward_mount_requests_total{mount="secret/",operation="read",status="2xx"} 3` + "\n",
		`keyward_mount_requests_total{mount="secret/",operation="read",status="4xx"} 1` + "\n",
		`keyward_mount_requests_total{mount="unknown",operation="read",status="4xx"} 1` + "\n",
		`keyward_mount_requests_total{mount="sys/",operation="read",status="2xx"} 2` + "\n",
		"# TYPE keyward_request_duration_seconds histogram\n",
		"# TYPE go_goroutines gauge\n",
		"# TYPE process_resident_memory_bytes gauge\n",
		"\ngo_memstats_heap_alloc_bytes ",
		"\nprocess_start_time_seconds ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, leak := range []string{seg, canary, root} {
		if strings.Contains(text, leak) {
			t.Errorf("metrics text contains %q (request data or a secret)", leak)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", text)
	}

	t.Run("json", func(t *testing.T) {
		code, _, body := call(t, n, "GET", "sys/metrics", root, "")
		var out struct {
			Timestamp string
			Points    []any
			Samples   []struct {
				Name   string
				Count  int64
				Sum    float64
				Labels map[string]string
			}
			Gauges []struct {
				Name  string
				Value float64
			}
		}
		if code != 200 || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("GET sys/metrics = %d %s", code, body)
		}
		if _, err := time.Parse("2006-01-02 15:04:05 -0700 MST", out.Timestamp); err != nil || out.Points == nil {
			t.Errorf("Timestamp %q or Points missing: %v", out.Timestamp, err)
		}
		found := false
		for _, s := range out.Samples {
			if s.Name == "keyward_request_duration_seconds" && s.Labels["mount"] == "secret/" && s.Labels["operation"] == "read" {
				found = s.Count == 4 && s.Sum > 0
			}
		}
		if !found {
			t.Errorf("JSON Samples lack secret/ reads (4, with a positive sum): %s", body)
		}
		goroutines := false
		for _, g := range out.Gauges {
			goroutines = goroutines || (g.Name == "go_goroutines" && g.Value > 0)
		}
		if !goroutines || strings.Contains(body, seg) || strings.Contains(body, canary) {
			t.Errorf("JSON lacks go_goroutines, or holds request data: %s", body)
		}
	})
}

// A disabled mount's series leave with it: the label set follows the
// mount table.
func TestRequestMetricsFollowTheMountTable(t *testing.T) {
	n := nodetest.Start(t)
	root := n.RootToken.Reveal()
	if code, _, body := call(t, n, "POST", "sys/mounts/scratch", root, `{"type":"kv","options":{"version":"2"}}`); code/100 != 2 {
		t.Fatalf("mount: %d %s", code, body)
	}
	call(t, n, "PUT", "scratch/data/x", root, `{"data":{"a":"b"}}`)
	call(t, n, "GET", "scratch/data/x", root, "")
	if text := scrape(t, n); !strings.Contains(text, `mount="scratch/"`) {
		t.Fatalf("no scratch/ series while mounted:\n%s", text)
	}
	if code, _, body := call(t, n, "DELETE", "sys/mounts/scratch", root, ""); code/100 != 2 {
		t.Fatalf("unmount: %d %s", code, body)
	}
	if text := scrape(t, n); strings.Contains(text, `mount="scratch/"`) {
		t.Errorf("scratch/ series outlive the mount:\n%s", text)
	}
}

// Two nodes in one process keep their request and alert metrics apart:
// each has a registry of its own.
func TestMetricsOfTwoNodesStayApart(t *testing.T) {
	a, b := nodetest.Start(t), nodetest.Start(t)
	if code, _, body := call(t, a, "POST", "sys/mounts/only-a", a.RootToken.Reveal(), `{"type":"kv"}`); code/100 != 2 {
		t.Fatalf("mount: %d %s", code, body)
	}
	for range 5 {
		call(t, a, "GET", "only-a/k", a.RootToken.Reveal(), "")
	}
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	a.AlertMetrics().Notify(watch.Alert{ID: "al-1", Rule: "root-token", Severity: watch.SeverityCritical,
		Status: watch.AlertOpen, FirstSeen: now, LastSeen: now, Count: 1})
	ta, tb := scrape(t, a), scrape(t, b)
	for _, want := range []string{
		`keyward_mount_requests_total{mount="only-a/",operation="read",status="4xx"} 5`,
		`keyward_alerts_total{rule="root-token",severity="critical"} 1`,
		`keyward_alerts_open{rule="root-token",severity="critical"} 1`,
	} {
		if !strings.Contains(ta, want) {
			t.Errorf("node A lacks %s", want)
		}
	}
	if strings.Contains(tb, "only-a/") || strings.Contains(tb, "keyward_alerts_total{") {
		t.Errorf("node B shows node A's requests or alerts:\n%s", tb)
	}
}
