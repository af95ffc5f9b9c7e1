package sink_test

import (
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/watch"
)

// chain is oncall (critical, escalates after 10m) -> manager (escalation
// only, escalates after 30m) -> director (escalation only).
func chain(t *testing.T, h *harness) (oncall, manager, director *receiver) {
	oncall, manager, director = newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	h.put(t, "director", map[string]any{"type": "webhook", "url": director.URL, "secret": hmacKey, "escalation_only": true})
	h.put(t, "manager", map[string]any{"type": "webhook", "url": manager.URL, "secret": hmacKey, "escalation_only": true,
		"escalate_after": "30m", "escalate_to": "director"})
	h.put(t, "oncall", map[string]any{"type": "webhook", "url": oncall.URL, "secret": hmacKey, "min_severity": "critical",
		"escalate_after": "10m", "escalate_to": "manager"})
	return oncall, manager, director
}

func TestUnacknowledgedCriticalEscalatesDownTheChain(t *testing.T) {
	h := newHarness(t)
	oncall, manager, director := chain(t, h)
	a := alert("crit-1", watch.SeverityCritical)
	h.d.Notify(a)
	clocktest.Eventually(t, "oncall's delivery", func() bool { return len(oncall.Got()) == 1 })
	if len(manager.Got())+len(director.Got()) != 0 {
		t.Fatal("escalation-only sinks got the alert before any delay")
	}
	h.clock.Add(9 * time.Minute)
	a.Count, a.LastSeen = 5, a.LastSeen.Add(9*time.Minute) // still open: repeats do not reset the timer
	h.d.Notify(a)
	if s := h.d.Stats(); s.Escalated != 0 {
		t.Fatalf("escalated after 9m: %+v", s)
	}
	h.clock.Add(time.Minute)
	clocktest.Eventually(t, "the escalation to manager", func() bool { return len(manager.Got()) == 1 })
	b := decodeBody(t, manager.Got()[0].Body)
	if b.Kind != "escalated" || b.Level != 1 || b.Alert.ID != "crit-1" || b.Alert.Count != 5 {
		t.Errorf("manager got %+v", b)
	}
	verify(t, h.clock.Now(), manager.Got()[0])
	h.clock.Add(30 * time.Minute)
	clocktest.Eventually(t, "the escalation to director", func() bool { return len(director.Got()) == 1 })
	if b := decodeBody(t, director.Got()[0].Body); b.Level != 2 {
		t.Errorf("director got level %d, want 2", b.Level)
	}
	// The end of the chain: no more timers, nothing more is sent.
	if n := h.clock.Timers(); n != 0 {
		t.Errorf("timers left = %d", n)
	}
	// Acknowledging tells everyone who was told.
	a.Status, a.AckedBy = watch.AlertAcknowledged, "alice"
	h.d.Notify(a)
	for name, r := range map[string]*receiver{"oncall": oncall, "manager": manager, "director": director} {
		clocktest.Eventually(t, name+" hearing of the acknowledgement", func() bool {
			got := r.Got()
			return len(got) == 2 && decodeBody(t, got[1].Body).Kind == "acknowledged"
		})
	}
}

func TestAcknowledgedBeforeTheDelayIsNotEscalated(t *testing.T) {
	h := newHarness(t)
	oncall, manager, director := chain(t, h)
	a := alert("crit-2", watch.SeverityCritical)
	h.d.Notify(a)
	clocktest.Eventually(t, "oncall's delivery", func() bool { return len(oncall.Got()) == 1 })
	if n := h.clock.Timers(); n != 1 {
		t.Fatalf("timers = %d, want oncall's", n)
	}
	h.clock.Add(5 * time.Minute)
	a.Status, a.AckedBy = watch.AlertAcknowledged, "bob"
	h.d.Notify(a)
	if n := h.clock.Timers(); n != 0 {
		t.Errorf("timers after ack = %d, want 0", n)
	}
	h.clock.Add(2 * time.Hour)
	if s := h.d.Stats(); s.Escalated != 0 {
		t.Errorf("escalated after ack: %+v", s)
	}
	clocktest.Eventually(t, "oncall hearing of the ack", func() bool { return len(oncall.Got()) == 2 })
	// Resolution is delivered too, and the alert is forgotten.
	a.Status = watch.AlertResolved
	h.d.Notify(a)
	clocktest.Eventually(t, "oncall hearing of the resolution", func() bool { return len(oncall.Got()) == 3 })
	if b := decodeBody(t, oncall.Got()[2].Body); b.Kind != "resolved" {
		t.Errorf("third delivery kind = %s", b.Kind)
	}
	if len(manager.Got())+len(director.Got()) != 0 {
		t.Errorf("escalation sinks got %d, %d", len(manager.Got()), len(director.Got()))
	}
}

func TestEscalationStopsAtSeal(t *testing.T) {
	h := newHarness(t)
	oncall, manager, _ := chain(t, h)
	h.d.Notify(alert("crit-3", watch.SeverityCritical))
	clocktest.Eventually(t, "oncall's delivery", func() bool { return len(oncall.Got()) == 1 })
	h.d.Detach()
	if n := h.clock.Timers(); n != 0 {
		t.Errorf("timers after Detach = %d", n)
	}
	h.clock.Add(time.Hour)
	if len(manager.Got()) != 0 {
		t.Error("escalated after seal")
	}
}

func TestNonCriticalDoesNotEscalate(t *testing.T) {
	h := newHarness(t)
	chain(t, h)
	h.put(t, "oncall", map[string]any{"min_severity": "high"})
	h.d.Notify(alert("high-1", watch.SeverityHigh))
	if n := h.clock.Timers(); n != 0 {
		t.Errorf("timers for a high alert = %d", n)
	}
}

func TestEscalationConfigRules(t *testing.T) {
	h := newHarness(t)
	rcv := newReceiver(t, nil)
	h.put(t, "a", map[string]any{"type": "webhook", "url": rcv.URL, "secret": hmacKey})
	h.put(t, "b", map[string]any{"type": "webhook", "url": rcv.URL, "secret": hmacKey, "escalate_after": "1m", "escalate_to": "a"})
	if err := h.d.DeleteSink(t.Context(), "a"); err == nil {
		t.Error("deleted a sink another escalates to")
	}
	c, _ := h.d.Sink("a")
	bad := map[string]any{"escalate_after": "1m", "escalate_to": "nobody"}
	if cfg, err := applyErr(c, bad); err == nil {
		if err := h.d.PutSink(t.Context(), cfg); err == nil {
			t.Error("escalate_to a missing sink accepted")
		}
	}
}
