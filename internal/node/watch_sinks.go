package node

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/watch"
	"github.com/keyward/keyward/internal/watch/sink"
)

// sinkService serves sys/watch/sinks and sys/watch/dead-letters and runs
// alert delivery while the node is active and unsealed: the dispatcher is
// attached to its storage (behind the barrier, sys/watch-sinks/) at unseal
// and detached at seal or step-down.
func sinkService(d *sink.Dispatcher) core.Service {
	return core.Service{Name: "alert sinks", Paths: []string{"watch/sinks", "watch/dead-letters", "watch/deliveries"}, Storage: "sys/watch-sinks/",
		New: func(ctx context.Context, env core.ServiceEnv) (core.ServiceBackend, error) {
			if err := d.Attach(ctx, env.Storage); err != nil {
				return nil, err
			}
			return sink.NewBackend(d), nil
		}}
}

// newSinks builds the node's alert dispatcher (detached until unseal).
func newSinks(logger *slog.Logger, networks []netip.Prefix) *sink.Dispatcher {
	return sink.New(sink.Options{Logger: logger, AllowedNetworks: networks})
}

// AlertNotifier returns the notifier that delivers alerts to the
// configured sinks: the alert store calls it (through a watch.Notifiers
// fan-out) when an alert is raised and whenever it changes. It never
// blocks; while the node is sealed or a standby it drops alerts.
func (n *Node) AlertNotifier() watch.Notifier { return n.sinks }

// AlertSinks returns the node's dispatcher (its Stats, for metrics).
func (n *Node) AlertSinks() *sink.Dispatcher { return n.sinks }
