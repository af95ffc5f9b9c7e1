package node_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/watch"
)

// TestDetectReadAfterRotation: reading the current version of a rotated
// secret (with or without ?version=) raises nothing; reading the
// superseded version raises read-after-rotation naming the versions, and
// the event carries the version numbers, never the value.
func TestDetectReadAfterRotation(t *testing.T) {
	d := startDetect(t, nodetest.Options{})
	const oldValue, newValue = "old-pw-6f1e9a0c", "new-pw-2b7d4c88"
	d.must(t, "PUT", "secret/data/app/db", map[string]any{"data": map[string]any{"password": oldValue}})
	d.must(t, "PUT", "secret/data/app/db", map[string]any{"data": map[string]any{"password": newValue}})
	tok, _ := d.token(t, "hugo")
	sub := d.Watch().Subscribe(watch.Filter{Paths: []string{"secret/data/app/db"}})
	defer d.Watch().Unsubscribe(sub)

	// Benign twin: the current version, implicitly and by number.
	for _, p := range []string{"secret/data/app/db", "secret/data/app/db?version=2"} {
		if code, _ := d.call(t, "GET", p, tok, "10.0.0.9", nil); code != 200 {
			t.Fatalf("GET %s = %d", p, code)
		}
	}
	if got := d.alerts(t, watch.RuleReadAfterRot); len(got) != 0 {
		t.Fatalf("reads of the current version raised %+v", got)
	}
	if code, _ := d.call(t, "GET", "secret/data/app/db?version=1", tok, "10.0.0.9", nil); code != 200 {
		t.Fatalf("GET version 1 = %d", code)
	}
	got := d.alertsOf(t, watch.RuleReadAfterRot, "token-hugo")
	if len(got) != 1 {
		t.Fatalf("read of version 1: alerts %+v", got)
	}
	a := got[0]
	if a.Evidence["version_read"] != "1" || a.Evidence["current_version"] != "2" || a.Evidence["path"] != "secret/data/app/db" {
		t.Fatalf("evidence %v", a.Evidence)
	}
	var versions [][2]int
	timeout := time.After(time.Minute)
	for len(versions) < 3 {
		select {
		case ev := <-sub.C():
			if ev.Operation == "read" && ev.Identity.DisplayName == "token-hugo" {
				versions = append(versions, [2]int{ev.Version, ev.CurrentVersion})
			}
		case <-timeout:
			t.Fatalf("events: got %v", versions)
		}
	}
	if versions[0] != [2]int{2, 2} || versions[1] != [2]int{2, 2} || versions[2] != [2]int{1, 2} {
		t.Fatalf("event versions %v", versions)
	}
	// The rule can be turned off like any other.
	d.tune(t, watch.RuleReadAfterRot, map[string]any{"enabled": false})
	d.call(t, "GET", "secret/data/app/db?version=1", tok, "10.0.0.7", nil)
	if got := d.alerts(t, watch.RuleReadAfterRot); len(got) != 1 || got[0].Count != 1 {
		t.Fatalf("disabled rule: %+v", got)
	}
	for _, v := range []string{oldValue, newValue} {
		if strings.Contains(d.Logs.String(), v) {
			t.Fatal("a secret value reached the log")
		}
	}
}
