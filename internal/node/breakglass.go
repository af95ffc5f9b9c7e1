package node

import (
	"log/slog"
	"sync/atomic"

	"github.com/keyward/keyward/internal/watch"
)

// breakGlassAlerts is the core's break-glass notifier: it logs each
// activation alert as an error, so an activation is never silent even
// with no sink configured, and forwards it to the notifier set with
// SetBreakGlassNotifier (by default the node's fan-out to the alert sinks
// and the alert metrics).
type breakGlassAlerts struct {
	n      atomic.Pointer[watch.Notifier]
	logger *slog.Logger
}

// Notify implements watch.Notifier. It does not block beyond what the
// notifier set does (a Notifier must not block).
func (b *breakGlassAlerts) Notify(a watch.Alert) {
	b.logger.Error("break-glass alert", "id", a.ID, "status", string(a.Status), "rule", a.Rule,
		"severity", a.Severity.String(), "summary", a.Summary, "group_key", a.GroupKey)
	if p := b.n.Load(); p != nil && *p != nil {
		(*p).Notify(a)
	}
}

// SetBreakGlassNotifier sets where break-glass activation alerts go (nil:
// the log only). Safe to call at any time.
func (n *Node) SetBreakGlassNotifier(to watch.Notifier) {
	n.bgAlerts.n.Store(&to)
}
