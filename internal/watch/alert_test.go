package watch_test

import (
	"encoding/json"
	"testing"

	"github.com/keyward/keyward/internal/watch"
)

func TestSeverityText(t *testing.T) {
	for _, name := range []string{"info", "low", "medium", "high", "critical"} {
		s, err := watch.ParseSeverity(name)
		if err != nil || s.String() != name {
			t.Fatalf("ParseSeverity(%q) = %v, %v", name, s, err)
		}
	}
	if _, err := watch.ParseSeverity("urgent"); err == nil {
		t.Fatal("urgent parsed as a severity")
	}
	if !(watch.SeverityCritical > watch.SeverityHigh && watch.SeverityLow > watch.SeverityInfo) {
		t.Fatal("severities are not ordered")
	}
	b, err := json.Marshal(watch.Alert{ID: "a", Severity: watch.SeverityHigh, Status: watch.AlertOpen})
	if err != nil {
		t.Fatal(err)
	}
	var back watch.Alert
	if err := json.Unmarshal(b, &back); err != nil || back.Severity != watch.SeverityHigh {
		t.Fatalf("round trip: %s -> %+v, %v", b, back, err)
	}
	if _, err := json.Marshal(watch.Alert{}); err == nil {
		t.Fatal("an alert without a severity marshalled")
	}
}
