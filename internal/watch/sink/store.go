package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/uuid"
	"github.com/keyward/keyward/internal/watch"
)

// Sink returns the sink named name, or nil.
func (d *Dispatcher) Sink(name string) (*Config, error) {
	r, err := d.current()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return r.sinks[name], nil
}

// Sinks returns the sink names, sorted.
func (d *Dispatcher) Sinks() ([]string, error) {
	r, err := d.current()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(r.sinks))
	for n := range r.sinks {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// PutSink stores c (created or replaced) and routes to it from now on. Its
// escalate_to must name another existing sink.
func (d *Dispatcher) PutSink(ctx context.Context, c *Config) error {
	r, err := d.current()
	if err != nil {
		return err
	}
	d.mu.Lock()
	if c.EscalateTo != "" && r.sinks[c.EscalateTo] == nil {
		d.mu.Unlock()
		return logical.BadRequest("escalate_to: no sink named %q", c.EscalateTo)
	}
	d.mu.Unlock()
	if err := logical.PutJSON(ctx, r.store, sinkPrefix+c.Name, c.toStored()); err != nil {
		return fmt.Errorf("store sink %q: %w", c.Name, err)
	}
	d.mu.Lock()
	r.sinks[c.Name] = c
	d.mu.Unlock()
	d.log.Info("sink written", "sink", c.Name, "type", string(c.Type))
	return nil
}

// DeleteSink removes the sink named name. A sink another one escalates to
// cannot be deleted until that one stops escalating to it.
func (d *Dispatcher) DeleteSink(ctx context.Context, name string) error {
	r, err := d.current()
	if err != nil {
		return err
	}
	d.mu.Lock()
	for _, c := range r.sinks {
		if c.EscalateTo == name {
			d.mu.Unlock()
			return logical.BadRequest("sink %q escalates to %q: change its escalate_to first", c.Name, name)
		}
	}
	d.mu.Unlock()
	if err := r.store.Delete(ctx, sinkPrefix+name); err != nil {
		return fmt.Errorf("delete sink %q: %w", name, err)
	}
	d.mu.Lock()
	delete(r.sinks, name)
	d.mu.Unlock()
	d.log.Info("sink deleted", "sink", name)
	return nil
}

// Test makes one try, now, of a test alert of severity sev to the sink
// named name. The error is safe to show.
func (d *Dispatcher) Test(ctx context.Context, name string, sev watch.Severity) (string, error) {
	c, err := d.Sink(name)
	if err != nil {
		return "", err
	}
	if c == nil {
		return "", logical.Errorf(http.StatusNotFound, "no sink named %q", name)
	}
	now := d.opts.Now()
	del := Delivery{ID: uuid.New(), Kind: KindTest, Sink: name, Queued: now, Alert: watch.Alert{
		ID: "test-" + uuid.New(), Rule: "test", Severity: sev, Status: watch.AlertOpen, GroupKey: "test",
		Summary: "Test alert from Keyward: if you read this, sink " + name + " works.", FirstSeen: now, LastSeen: now, Count: 1,
	}}
	if err := d.sender.send(ctx, c, &del); err != nil {
		d.log.Warn("test delivery failed", "sink", name, "type", string(c.Type), "err", err.Error())
		return "", logical.Errorf(http.StatusBadGateway, "test delivery to sink %q failed: %s", name, err)
	}
	return del.ID, nil
}

// DeadLetter is a delivery that failed for good, kept for inspection and
// retry. It holds the alert (no secret) and a safe error message.
type DeadLetter struct {
	ID       string    `json:"id"`
	Sink     string    `json:"sink"`
	SinkType Type      `json:"sink_type"`
	Delivery Delivery  `json:"delivery"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error"`
	FailedAt time.Time `json:"failed_at"`
}

// Data is the dead letter as an API response.
func (dl *DeadLetter) Data() map[string]any {
	return map[string]any{"id": dl.ID, "sink": dl.Sink, "sink_type": string(dl.SinkType),
		"delivery_id": dl.Delivery.ID, "kind": string(dl.Delivery.Kind), "escalation_level": dl.Delivery.Level,
		"alert": dl.Delivery.Alert, "attempts": dl.Attempts, "error": dl.Error,
		"failed_at": dl.FailedAt.UTC().Format(time.RFC3339Nano), "queued_at": dl.Delivery.Queued.UTC().Format(time.RFC3339Nano)}
}

// deadID is sortable by time: 16 hex digits of Unix nanoseconds and 8
// random hex digits.
func deadID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%016x-%s", uint64(t.UnixNano()), hex.EncodeToString(b[:]))
}

func validDeadID(id string) bool {
	if len(id) != 25 || id[16] != '-' {
		return false
	}
	_, err1 := hex.DecodeString(id[:16])
	_, err2 := hex.DecodeString(id[17:])
	return err1 == nil && err2 == nil && strings.ToLower(id) == id
}

// deadLetter stores j as a dead letter, evicting the oldest past the bound.
func (d *Dispatcher) deadLetter(r *running, j job, attempts int, msg string) {
	now := d.opts.Now()
	dl := DeadLetter{ID: deadID(now), Sink: j.cfg.Name, SinkType: j.cfg.Type, Delivery: j.d, Attempts: attempts,
		Error: redact(msg, j.cfg.secrets()), FailedAt: now}
	r.deadMu.Lock()
	defer r.deadMu.Unlock()
	if err := logical.PutJSON(r.ctx, r.store, deadPrefix+dl.ID, dl); err != nil {
		d.count(func(s *Stats) { s.Dropped++ })
		d.log.Error("dead letter not stored", "sink", dl.Sink, "alert", dl.Delivery.Alert.ID, "delivery", dl.Delivery.ID, "err", err)
		return
	}
	r.dead = append(r.dead, dl.ID)
	d.mu.Lock()
	d.stats.DeadLettered++
	if oc := r.outcomes.done(dl.Delivery.Alert.ID, dl.Sink); oc != nil {
		oc.Failed[dl.Sink] = Failure{DeadLetter: dl.ID, Error: dl.Error}
	}
	d.mu.Unlock()
	d.log.Warn("alert delivery dead-lettered", "sink", dl.Sink, "alert", dl.Delivery.Alert.ID, "delivery", dl.Delivery.ID,
		"dead_letter", dl.ID, "attempts", attempts, "err", dl.Error)
	for len(r.dead) > d.opts.MaxDeadLetters {
		old := r.dead[0]
		if err := r.store.Delete(r.ctx, deadPrefix+old); err != nil {
			d.log.Error("evict dead letter", "dead_letter", old, "err", err)
			return
		}
		r.dead = r.dead[1:]
		d.count(func(s *Stats) { s.DeadLettersEvicted++ })
	}
}

// DeadLetters returns the dead-letter ids, oldest first.
func (d *Dispatcher) DeadLetters() ([]string, error) {
	r, err := d.current()
	if err != nil {
		return nil, err
	}
	r.deadMu.Lock()
	defer r.deadMu.Unlock()
	return slices.Clone(r.dead), nil
}

// DeadLetter reads one dead letter; nil when there is none with id.
func (d *Dispatcher) DeadLetter(ctx context.Context, id string) (*DeadLetter, error) {
	r, err := d.current()
	if err != nil {
		return nil, err
	}
	if !validDeadID(id) {
		return nil, nil
	}
	var dl DeadLetter
	found, err := logical.GetJSON(ctx, r.store, deadPrefix+id, &dl)
	if err != nil || !found {
		return nil, err
	}
	return &dl, nil
}

// DeleteDeadLetter removes a dead letter (absent: no error).
func (d *Dispatcher) DeleteDeadLetter(ctx context.Context, id string) error {
	r, err := d.current()
	if err != nil {
		return err
	}
	if !validDeadID(id) {
		return nil
	}
	r.deadMu.Lock()
	defer r.deadMu.Unlock()
	if err := r.store.Delete(ctx, deadPrefix+id); err != nil {
		return fmt.Errorf("delete dead letter %s: %w", id, err)
	}
	if i := slices.Index(r.dead, id); i >= 0 {
		r.dead = slices.Delete(r.dead, i, i+1)
	}
	return nil
}

// RetryDeadLetter makes one try, now, of a dead letter to its sink's
// current settings, with the same delivery id. On success the dead letter
// is removed; on failure it stays, its attempts and error updated, and the
// error (safe to show) is returned.
func (d *Dispatcher) RetryDeadLetter(ctx context.Context, id string) error {
	dl, err := d.DeadLetter(ctx, id)
	if err != nil {
		return err
	}
	if dl == nil {
		return logical.Errorf(http.StatusNotFound, "no dead letter %q", id)
	}
	c, err := d.Sink(dl.Sink)
	if err != nil {
		return err
	}
	if c == nil {
		return logical.BadRequest("sink %q no longer exists: delete the dead letter or create the sink again", dl.Sink)
	}
	if err := d.sender.send(ctx, c, &dl.Delivery); err != nil {
		r, rerr := d.current()
		if rerr != nil {
			return rerr
		}
		dl.Attempts++
		dl.Error = err.Error()
		dl.FailedAt = d.opts.Now()
		r.deadMu.Lock()
		if slices.Contains(r.dead, id) {
			if perr := logical.PutJSON(ctx, r.store, deadPrefix+id, dl); perr != nil {
				d.log.Error("update dead letter", "dead_letter", id, "err", perr)
			}
		}
		r.deadMu.Unlock()
		d.log.Warn("dead letter retry failed", "dead_letter", id, "sink", dl.Sink, "err", dl.Error)
		return logical.Errorf(http.StatusBadGateway, "retry of dead letter %s to sink %q failed: %s", id, dl.Sink, dl.Error)
	}
	d.count(func(s *Stats) { s.Delivered++ })
	d.log.Info("dead letter delivered", "dead_letter", id, "sink", dl.Sink, "delivery", dl.Delivery.ID)
	return d.DeleteDeadLetter(ctx, id)
}
