package sink

import (
	"maps"
	"slices"
	"time"
)

// Outcome is what became of the deliveries of one alert: per sink, when
// one was delivered, how many are still queued or retrying, and the last
// error of one that became a dead letter. The dispatcher keeps the
// outcomes of the last MaxTracked alerts in memory while attached (a
// breach drill reads them at sys/watch/deliveries/ALERT_ID).
type Outcome struct {
	AlertID string
	// Delivered is, per sink, when the first delivery arrived.
	Delivered map[string]time.Time
	// Pending counts, per sink, deliveries queued or waiting to retry.
	Pending map[string]int
	// Failed is, per sink, the last dead letter's id and error.
	Failed map[string]Failure
}

// Failure is a delivery that became a dead letter.
type Failure struct {
	DeadLetter string
	Error      string
}

type outcomes struct {
	by    map[string]*Outcome
	order []string
}

func (o *outcomes) get(id string, limit int) *Outcome {
	if o.by == nil {
		o.by = map[string]*Outcome{}
	}
	oc := o.by[id]
	if oc == nil {
		oc = &Outcome{AlertID: id, Delivered: map[string]time.Time{}, Pending: map[string]int{}, Failed: map[string]Failure{}}
		o.by[id] = oc
		o.order = append(o.order, id)
		for len(o.order) > limit {
			delete(o.by, o.order[0])
			o.order = o.order[1:]
		}
	}
	return oc
}

func (o *outcomes) done(id, sink string) *Outcome {
	oc := o.by[id]
	if oc == nil {
		return nil
	}
	if oc.Pending[sink]--; oc.Pending[sink] <= 0 {
		delete(oc.Pending, sink)
	}
	return oc
}

// Outcome returns the delivery outcome of alert id (false when the
// dispatcher has no record of it: never routed, forgotten, or notified
// before the last unseal).
func (d *Dispatcher) Outcome(id string) (Outcome, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.run
	if r == nil {
		return Outcome{}, false, ErrDetached
	}
	oc := r.outcomes.by[id]
	if oc == nil {
		return Outcome{}, false, nil
	}
	return Outcome{AlertID: oc.AlertID, Delivered: maps.Clone(oc.Delivered), Pending: maps.Clone(oc.Pending),
		Failed: maps.Clone(oc.Failed)}, true, nil
}

func (oc *Outcome) data() map[string]any {
	delivered := map[string]any{}
	for s, t := range oc.Delivered {
		delivered[s] = t.UTC().Format(time.RFC3339Nano)
	}
	failed := map[string]any{}
	for s, f := range oc.Failed {
		failed[s] = map[string]any{"dead_letter": f.DeadLetter, "error": f.Error}
	}
	pending := map[string]any{}
	for s, n := range oc.Pending {
		pending[s] = n
	}
	return map[string]any{"alert_id": oc.AlertID, "delivered_to": slices.Sorted(maps.Keys(oc.Delivered)),
		"delivered": delivered, "pending": pending, "failed": failed}
}
