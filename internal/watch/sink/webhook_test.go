package sink_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/watch"
	"github.com/keyward/keyward/internal/watch/sink"
)

const hmacKey = "0123456789abcdef-webhook-key"

// verify checks a received webhook as a receiver would, with the
// documented scheme: v1= hex HMAC-SHA256 over "timestamp.body".
func verify(t testing.TB, now time.Time, r received) {
	t.Helper()
	ts, sig := r.Header.Get(sink.HeaderTimestamp), r.Header.Get(sink.HeaderSignature)
	if !sink.Verify([]byte(hmacKey), ts, sig, r.Body, now, 5*time.Minute) {
		t.Fatalf("signature %q over timestamp %q does not verify", sig, ts)
	}
	if sink.Verify([]byte("another-key-0123456789"), ts, sig, r.Body, now, 5*time.Minute) {
		t.Fatal("signature verifies under another key")
	}
	if sink.Verify([]byte(hmacKey), ts, sig, append(r.Body, ' '), now, 5*time.Minute) {
		t.Fatal("signature verifies over another body")
	}
}

func TestWebhookRetriesThenDelivers(t *testing.T) {
	h := newHarness(t)
	// The receiver refuses the first two deliveries.
	rcv := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	h.put(t, "hook", map[string]any{"type": "webhook", "url": rcv.URL + "/alerts", "secret": hmacKey,
		"max_attempts": 4, "backoff": "2s", "max_backoff": "3s"})
	h.d.Notify(alert("a1", watch.SeverityHigh))
	clocktest.Eventually(t, "the delivery", func() bool { return h.d.Stats().Delivered == 1 })
	got := rcv.Got()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(got))
	}
	var ids []string
	for _, r := range got {
		verify(t, h.clock.Now(), r)
		if r.Header.Get("Content-Type") != "application/json" || r.Header.Get(sink.HeaderEvent) != "alert.raised" {
			t.Errorf("headers = %v", r.Header)
		}
		b := decodeBody(t, r.Body)
		if b.Alert.ID != "a1" || b.Kind != "raised" || b.Sink != "hook" || b.Alert.Severity != watch.SeverityHigh || b.Version != 1 {
			t.Errorf("body = %+v", b)
		}
		ids = append(ids, r.Header.Get(sink.HeaderDelivery))
	}
	if ids[0] == "" || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Errorf("delivery ids across tries = %v, want one id", ids)
	}
	// Exponential backoff, capped at max_backoff.
	if w := h.Waits(); !slices.Equal(w, []time.Duration{2 * time.Second, 3 * time.Second}) {
		t.Errorf("waits = %v, want [2s 3s]", w)
	}
	if s := h.d.Stats(); s.Retries != 2 || s.DeadLettered != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestWebhookDeadLetterAndRetry(t *testing.T) {
	h := newHarness(t)
	rcv := newReceiver(t, func(int) int { return http.StatusInternalServerError })
	h.put(t, "hook", map[string]any{"type": "webhook", "url": rcv.URL, "secret": hmacKey, "max_attempts": 3})
	h.d.Notify(alert("a1", watch.SeverityCritical))
	clocktest.Eventually(t, "the dead letter", func() bool { return h.d.Stats().DeadLettered == 1 })
	if n := len(rcv.Got()); n != 3 {
		t.Fatalf("tries = %d, want max_attempts 3", n)
	}
	if w := h.Waits(); !slices.Equal(w, []time.Duration{time.Second, 2 * time.Second}) {
		t.Errorf("waits = %v, want [1s 2s]", w)
	}
	ids, err := h.d.DeadLetters()
	if err != nil || len(ids) != 1 {
		t.Fatalf("DeadLetters = %v, %v; want one", ids, err)
	}
	ctx := context.Background()
	dl, err := h.d.DeadLetter(ctx, ids[0])
	if err != nil || dl == nil {
		t.Fatalf("DeadLetter = %v, %v", dl, err)
	}
	if dl.Sink != "hook" || dl.Attempts != 3 || dl.Delivery.Alert.ID != "a1" || !strings.Contains(dl.Error, "500") {
		t.Errorf("dead letter = %+v", dl)
	}
	// The list survives a restart (it is persisted).
	h.d.Detach()
	h.d = h.build()
	if err := h.d.Attach(ctx, h.store); err != nil {
		t.Fatal(err)
	}
	if again, _ := h.d.DeadLetters(); !slices.Equal(again, ids) {
		t.Fatalf("after restart DeadLetters = %v, want %v", again, ids)
	}
	// While the endpoint still fails, a retry fails and keeps the letter.
	if err := h.d.RetryDeadLetter(ctx, ids[0]); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("RetryDeadLetter while failing = %v", err)
	}
	if dl, _ := h.d.DeadLetter(ctx, ids[0]); dl == nil || dl.Attempts != 4 {
		t.Fatalf("after failed retry = %+v, want attempts 4", dl)
	}
	// The endpoint recovers: the retry delivers, with the same delivery id,
	// and the letter is gone.
	rcv.SetFail(nil)
	if err := h.d.RetryDeadLetter(ctx, ids[0]); err != nil {
		t.Fatalf("RetryDeadLetter = %v", err)
	}
	got := rcv.Got()
	last := got[len(got)-1]
	verify(t, h.clock.Now(), last)
	if last.Header.Get(sink.HeaderDelivery) != dl.Delivery.ID {
		t.Errorf("retried delivery id = %q, want %q", last.Header.Get(sink.HeaderDelivery), dl.Delivery.ID)
	}
	if left, _ := h.d.DeadLetters(); len(left) != 0 {
		t.Errorf("dead letters after retry = %v", left)
	}
	if dl, _ := h.d.DeadLetter(ctx, ids[0]); dl != nil {
		t.Error("the retried dead letter is still stored")
	}
}

func TestWebhookClientErrorIsNotRetried(t *testing.T) {
	h := newHarness(t)
	rcv := newReceiver(t, func(int) int { return http.StatusUnauthorized })
	h.put(t, "hook", map[string]any{"type": "webhook", "url": rcv.URL, "secret": hmacKey})
	h.d.Notify(alert("a1", watch.SeverityLow))
	clocktest.Eventually(t, "the dead letter", func() bool { return h.d.Stats().DeadLettered == 1 })
	if n := len(rcv.Got()); n != 1 {
		t.Errorf("tries = %d, want 1 (401 is final)", n)
	}
}

func TestDeadLettersAreBounded(t *testing.T) {
	h := newHarness(t)
	h.d.Detach()
	h.d = sink.New(sink.Options{Now: h.clock.Now, MaxDeadLetters: 2, Sleep: func(context.Context, time.Duration) error { return nil }})
	if err := h.d.Attach(context.Background(), h.store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.d.Detach)
	rcv := newReceiver(t, func(int) int { return http.StatusBadRequest })
	h.put(t, "hook", map[string]any{"type": "webhook", "url": rcv.URL, "secret": hmacKey})
	for i := range 5 {
		h.clock.Add(time.Second)
		h.d.Notify(alert("a"+string(rune('0'+i)), watch.SeverityLow))
		clocktest.Eventually(t, "a dead letter", func() bool { return h.d.Stats().DeadLettered == uint64(i+1) })
	}
	ids, _ := h.d.DeadLetters()
	if len(ids) != 2 {
		t.Fatalf("dead letters = %v, want the newest 2", ids)
	}
	for i, want := range []string{"a3", "a4"} {
		dl, _ := h.d.DeadLetter(context.Background(), ids[i])
		if dl == nil || dl.Delivery.Alert.ID != want {
			t.Errorf("dead letter %d = %+v, want alert %s", i, dl, want)
		}
	}
	if s := h.d.Stats(); s.DeadLettersEvicted != 3 {
		t.Errorf("evicted = %d, want 3", s.DeadLettersEvicted)
	}
	keys, _ := h.store.List(context.Background(), "dead/")
	if len(keys) != 2 {
		t.Errorf("stored dead letters = %v", keys)
	}
}

func TestRoutingBySeverityAndRepeats(t *testing.T) {
	h := newHarness(t)
	low, high := newReceiver(t, nil), newReceiver(t, nil)
	h.put(t, "all", map[string]any{"type": "webhook", "url": low.URL, "secret": hmacKey})
	h.put(t, "high", map[string]any{"type": "webhook", "url": high.URL, "secret": hmacKey, "min_severity": "high"})
	h.d.Notify(alert("m", watch.SeverityMedium))
	a := alert("m", watch.SeverityMedium)
	a.Count = 7 // a repeat: no new message
	h.d.Notify(a)
	a.Severity = watch.SeverityHigh // raised: an update to both
	h.d.Notify(a)
	clocktest.Eventually(t, "three deliveries", func() bool { return h.d.Stats().Delivered == 3 })
	if n := len(low.Got()); n != 2 {
		t.Errorf("all got %d, want 2 (raised, updated)", n)
	}
	got := high.Got()
	if len(got) != 1 || decodeBody(t, got[0].Body).Kind != "updated" {
		t.Errorf("high got %d: want one update", len(got))
	}
	if s := h.d.Stats(); s.Queued != 3 {
		t.Errorf("queued = %d, want 3", s.Queued)
	}
}

func TestNotifyWhileDetachedDrops(t *testing.T) {
	d := sink.New(sink.Options{})
	d.Notify(alert("x", watch.SeverityCritical))
	if s := d.Stats(); s.Dropped != 1 {
		t.Errorf("Dropped = %d, want 1", s.Dropped)
	}
	if _, err := d.Sinks(); err == nil {
		t.Error("Sinks while detached: no error")
	}
}

func TestQueueFullSpillsToDeadLetters(t *testing.T) {
	h := newHarness(t)
	h.d.Detach()
	block := make(chan struct{})
	started := make(chan struct{}, 1)
	srv := newReceiver(t, func(int) int {
		select {
		case started <- struct{}{}:
		default:
		}
		<-block
		return 0
	})
	t.Cleanup(func() { close(block) })
	h.d = sink.New(sink.Options{Now: h.clock.Now, QueueSize: 2, Workers: 1})
	if err := h.d.Attach(context.Background(), h.store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.d.Detach)
	h.put(t, "hook", map[string]any{"type": "webhook", "url": srv.URL, "secret": hmacKey, "timeout": "5m"})
	h.d.Notify(alert("first", watch.SeverityLow))
	<-started // the one worker is busy
	for _, id := range []string{"b", "c", "d", "e"} {
		h.d.Notify(alert(id, watch.SeverityLow)) // never blocks
	}
	if s := h.d.Stats(); s.Queued != 5 {
		t.Fatalf("queued = %d", s.Queued)
	}
	// b and c were pushed out by d and e: they become dead letters once the
	// worker is free.
	block <- struct{}{}
	clocktest.Eventually(t, "the spilled deliveries", func() bool { return h.d.Stats().DeadLettered == 2 })
	ids, _ := h.d.DeadLetters()
	for _, id := range ids {
		dl, _ := h.d.DeadLetter(context.Background(), id)
		if dl == nil || dl.Error != "delivery queue full" || (dl.Delivery.Alert.ID != "b" && dl.Delivery.Alert.ID != "c") {
			t.Errorf("dead letter = %+v", dl)
		}
	}
}

func TestFailingSinkDoesNotHoldUpOthers(t *testing.T) {
	h := newHarness(t)
	h.d.Detach()
	release := make(chan struct{})
	waiting := make(chan struct{}, 1)
	h.d = sink.New(sink.Options{Now: h.clock.Now, Workers: 1, Sleep: func(ctx context.Context, _ time.Duration) error {
		waiting <- struct{}{}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}})
	if err := h.d.Attach(context.Background(), h.store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.d.Detach)
	down := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	up := newReceiver(t, nil)
	h.put(t, "a-down", map[string]any{"type": "webhook", "url": down.URL, "secret": hmacKey, "min_severity": "high"})
	h.put(t, "b-up", map[string]any{"type": "webhook", "url": up.URL, "secret": hmacKey})
	h.d.Notify(alert("first", watch.SeverityHigh)) // a-down fails and waits to retry
	<-waiting
	h.d.Notify(alert("second", watch.SeverityLow)) // only b-up: delivered by the one worker meanwhile
	clocktest.Eventually(t, "b-up's deliveries", func() bool { return len(up.Got()) == 2 })
	close(release)
	clocktest.Eventually(t, "a-down's retry", func() bool { return len(down.Got()) == 2 })
	// The receiver records a request before it answers: the dispatcher
	// counts the delivery only once the answer is back.
	clocktest.Eventually(t, "three deliveries counted", func() bool { return h.d.Stats().Delivered >= 3 })
	if s := h.d.Stats(); s.Delivered != 3 || s.Retries != 1 {
		t.Errorf("stats = %+v", s)
	}
}
