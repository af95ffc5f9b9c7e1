package node

import (
	"log/slog"
	"sync/atomic"

	"github.com/keyward/keyward/internal/watch"
)

// breakGlassAlerts is the core's break-glass notifier: it forwards each
// activation alert to the notifier set with SetBreakGlassNotifier (the
// node's fan-out to every alert sink), and logs it as an error while none
// is set, so an activation is never silent.
type breakGlassAlerts struct {
	n      atomic.Pointer[watch.Notifier]
	logger *slog.Logger
}

// Notify implements watch.Notifier. It does not block beyond what the
// notifier set does (a Notifier must not block).
func (b *breakGlassAlerts) Notify(a watch.Alert) {
	if p := b.n.Load(); p != nil && *p != nil {
		(*p).Notify(a)
		return
	}
	b.logger.Error("break-glass alert raised with no alert sink configured", "rule", a.Rule,
		"severity", a.Severity.String(), "summary", a.Summary, "group_key", a.GroupKey)
}

// SetBreakGlassNotifier sets where break-glass activation alerts go (nil:
// the log only). Safe to call at any time.
func (n *Node) SetBreakGlassNotifier(to watch.Notifier) {
	n.bgAlerts.n.Store(&to)
}
