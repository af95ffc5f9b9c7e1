package lease

import "github.com/keyward/keyward/internal/monitor"

// Lease metrics. The gauges sum over every Manager in the process; each
// Manager adds its leases when it loads or registers them, moves them
// between states with setState, and takes them all back at Close.
var (
	revokedTotal = monitor.Counter("keyward_leases_revoked_total",
		"Leases revoked through their engine.")
	revokeFailures = monitor.Counter("keyward_lease_revoke_failures_total",
		"Failed lease revocation attempts (each is retried with backoff until the lease is irrevocable).")
	stateGauges = map[string]*monitor.Level{
		StateActive:        monitor.Gauge("keyward_leases_active", "Leases in the active state."),
		StateRevokePending: monitor.Gauge("keyward_leases_revoke_pending", "Leases whose revocation failed and is being retried."),
		StateIrrevocable:   monitor.Gauge("keyward_leases_irrevocable", "Leases whose revocation gave up after the last attempt."),
	}
)

// gaugeAdd moves the gauge of state by n. m.mu is held (or m is not yet
// shared); a closed Manager no longer counts.
func (m *Manager) gaugeAdd(state string, n int64) {
	if g := stateGauges[state]; g != nil && !m.closed {
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
