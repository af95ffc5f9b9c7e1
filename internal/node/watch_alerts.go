package node

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/watch"
)

// alertNotifier forwards every alert change to the notifier the node was
// given (SetAlertNotifier); none is a no-op.
type alertNotifier struct {
	to atomic.Pointer[watch.Notifier]
}

func (a *alertNotifier) Notify(al watch.Alert) {
	if n := a.to.Load(); n != nil {
		(*n).Notify(al)
	}
}

// SetAlertNotifier makes n receive every alert raised or changed from now
// on (sinks and metrics fan out behind it; watch.Notifiers combines
// several). nil stops notifying.
func (n *Node) SetAlertNotifier(to watch.Notifier) {
	if n.detect == nil {
		return
	}
	if to == nil {
		n.detect.to.Store(nil)
		return
	}
	n.detect.to.Store(&to)
}

// Detection returns the node's detection engine (nil when detection or
// events are off).
func (n *Node) Detection() *watch.Engine { return n.watch.Engine() }

// containment carries out the detectors' automatic actions through the
// core: the token store's revocation (children and leases with it), the
// seal, and an audit entry for each.
type containment struct {
	n         *Node
	allowSeal bool
	logger    *slog.Logger
}

func (c *containment) RevokeToken(ctx context.Context, accessor string) error {
	return c.n.core.RevokeAccessor(ctx, accessor)
}

func (c *containment) LockTarget(ctx context.Context, accessor string) (string, string, error) {
	return c.n.core.TokenOrigin(ctx, accessor)
}

func (c *containment) RequireMFA(ctx context.Context, entityID string) error {
	return c.n.core.RequireMFA(ctx, entityID)
}

func (c *containment) Seal(context.Context) error {
	if !c.allowSeal {
		return errors.New("the server configuration does not allow automatic sealing (watch { allow_seal = true })")
	}
	// Sealing closes the watch service, which waits for the detector
	// that calls this: seal from elsewhere.
	go c.n.core.Seal()
	return nil
}

func (c *containment) Audit(ctx context.Context, a *watch.Alert, act watch.Action) {
	data := map[string]any{"alert_id": a.ID, "rule": a.Rule, "action": act.Kind, "target": act.Target, "dry_run": act.DryRun}
	var outcome error
	if act.Error != "" {
		outcome = logical.Errorf(500, "%s", act.Error)
	}
	if err := c.n.core.AuditInternal(ctx, logical.UpdateOperation, "sys/watch/containment/"+act.Kind, data, outcome); err != nil {
		c.logger.Error("watch: containment not audited", "alert", a.ID, "action", act.Kind, "err", err)
	}
}

// newDetection builds the node's detection engine on hub (unless the
// configuration turns detection off).
func (n *Node) newDetection(cfg *config.Config, logger *slog.Logger) {
	n.detect = &alertNotifier{}
	if cfg.Watch.Disable || cfg.Watch.DisableDetection {
		return
	}
	opts := watch.EngineOptions{Notifier: n.detect, Inspect: inspector{n}, Location: cfg.Watch.Location(), Logger: logger,
		Contain: &containment{n: n, allowSeal: cfg.Watch.AllowSeal, logger: logger}, Now: cfg.Now}
	en := watch.NewEngine(opts)
	n.watch.SetEngine(en)
	n.loginGate = en.CheckLogin
}

// inspector reads policies through the core for policy-widening.
type inspector struct{ n *Node }

func (i inspector) ACLPolicies(ctx context.Context) (map[string]string, error) {
	return i.n.core.ACLPolicies(ctx)
}

func (i inspector) AuthRole(ctx context.Context, path string) (map[string]any, error) {
	return i.n.core.ReadAuthConfig(ctx, path)
}
