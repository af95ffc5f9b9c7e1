package node

import (
	"context"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/watch"
)

// watchService serves sys/events/subscribe and keeps the hub's baselines
// behind the barrier (sys/watch/): loaded at unseal, flushed periodically
// and at seal.
func watchService(hub *watch.Hub) core.Service {
	return core.Service{Name: "access events", Paths: []string{"events", "watch/rules", "watch/alerts", "watch/canaries", "watch/drills", "watch/locks"}, Storage: "sys/watch/",
		New: func(ctx context.Context, env core.ServiceEnv) (core.ServiceBackend, error) {
			hub.Attach(ctx, env.Storage)
			if en := hub.Engine(); en != nil {
				en.Attach(ctx, env.Storage)
			}
			return watch.NewBackend(hub), nil
		}}
}

// Watch returns the node's access-event hub.
func (n *Node) Watch() *watch.Hub { return n.watch }
