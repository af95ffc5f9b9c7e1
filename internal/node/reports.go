package node

import (
	"context"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/report"
	"github.com/keyward/keyward/internal/watch"
)

// reportsService serves sys/reports/... Its settings (production
// patterns, rotation policies) live behind the barrier in sys/reports/;
// its figures come from the core's stores (core.Inspector), the lease
// manager and the watch hub's access index.
func reportsService(n *Node, cfg *config.Config) core.Service {
	return core.Service{Name: "reports", Paths: []string{"reports"}, Storage: "sys/reports/",
		New: func(_ context.Context, env core.ServiceEnv) (core.ServiceBackend, error) {
			src := reportSource{in: env.Inspect, n: n, events: !cfg.Watch.Disable}
			return report.NewBackend(report.NewGenerator(src, env.Storage, cfg.Now)), nil
		}}
}

// reportSource adapts the node's parts to report.Source.
type reportSource struct {
	in     core.Inspector
	n      *Node
	events bool
}

func (s reportSource) Mounts() []report.Mount {
	var out []report.Mount
	for _, e := range s.in.Mounts() {
		out = append(out, report.Mount{Path: e.Path, Type: e.Type, Auth: e.Table == "auth", Options: e.Options})
	}
	return out
}

func (s reportSource) Read(ctx context.Context, mount string, op logical.Operation, path string) (*logical.Response, error) {
	return s.in.Read(ctx, mount, op, path, nil)
}

func (s reportSource) Policies() map[string]string { return s.in.Policies() }

func (s reportSource) Leases() []report.Lease {
	m := s.n.leases.Load()
	if m == nil {
		return nil
	}
	out := []report.Lease{}
	for _, l := range m.All() {
		out = append(out, report.Lease{ID: l.ID, MountPath: l.MountPath, Path: l.Path, IssueTime: l.IssueTime,
			ExpireTime: l.ExpireTime, MaxExpire: l.MaxExpire, State: l.State})
	}
	return out
}

func (s reportSource) Access() *watch.AccessIndex {
	if !s.events {
		return nil
	}
	return s.n.watch.Access()
}
