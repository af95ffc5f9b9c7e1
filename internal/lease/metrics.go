package lease

import "github.com/keyward/keyward/internal/monitor"

// metrics are a Manager's counters and gauges, in the registry Options
// gave it. Each Manager adds its leases when it loads or registers them,
// moves them between states with setState, and takes them all back at
// Close, so a registry shared by the Managers of one node (one per unseal)
// counts that node's leases only.
type metrics struct {
	revoked, revokeFailures *monitor.Count
	states                  map[string]*monitor.Level
}

func newMetrics(r *monitor.Registry) metrics {
	return metrics{
		revoked: r.Counter("keyward_leases_revoked_total",
			"Leases revoked through their engine."),
		revokeFailures: r.Counter("keyward_lease_revoke_failures_total",
			"Failed lease revocation attempts (each is retried with backoff until the lease is irrevocable)."),
		states: map[string]*monitor.Level{
			StateActive:        r.Gauge("keyward_leases_active", "Leases in the active state."),
			StateRevokePending: r.Gauge("keyward_leases_revoke_pending", "Leases whose revocation failed and is being retried."),
			StateIrrevocable:   r.Gauge("keyward_leases_irrevocable", "Leases whose revocation gave up after the last attempt."),
		},
	}
}

// gaugeAdd moves the gauge of state by n. m.mu is held (or m is not yet
// shared); a closed Manager no longer counts.
func (m *Manager) gaugeAdd(state string, n int64) {
	if g := m.metrics.states[state]; g != nil && !m.closed {
		g.Add(n)
	}
}

// setState changes e's state and the gauges, if e is still indexed. m.mu is
// held.
func (m *Manager) setState(e *entry, state string) {
	if m.leases[e.ID] == e {
		m.gaugeAdd(e.State, -1)
		m.gaugeAdd(state, 1)
	}
	e.State = state
}
