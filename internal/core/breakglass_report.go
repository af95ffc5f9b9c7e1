package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/watch"
)

// The life of an activation after the token is minted: the alert, the
// audit entries of its start and end, the report of what the token did,
// and its end at expiry or revocation.

// bgAlert raises the activation alert. The evidence is non-secret: the
// activation id, reason, holder kind, the officers (or the number of key
// holders), the policies, TTL and expiry, and the token's accessor.
func (c *Core) bgAlert(rep *BreakGlassReport) {
	officers, holders := []string{}, 0
	for _, ap := range rep.Approvals {
		if ap.Officer != "" {
			officers = append(officers, ap.Officer)
		} else {
			holders++
		}
	}
	ev := map[string]string{"activation_id": rep.ID, "reason": rep.Reason, "holders": rep.Holders,
		"policies": strings.Join(rep.Policies, ","), "ttl": (time.Duration(rep.TTL) * time.Second).String(),
		"expires_at": rep.ExpiresAt.UTC().Format(time.RFC3339), "accessor": rep.Accessor,
		"quorum": fmt.Sprint(rep.Quorum)}
	if len(officers) > 0 {
		ev["officers"] = strings.Join(officers, ",")
	}
	if holders > 0 {
		ev["key_holders"] = fmt.Sprint(holders)
	}
	al := watch.Alert{ID: randomID(), Rule: BreakGlassRule, Severity: watch.SeverityCritical, Status: watch.AlertOpen,
		GroupKey: BreakGlassRule + "/" + rep.ID,
		Identity: watch.Identity{Accessor: rep.Accessor, DisplayName: "break-glass"},
		Summary:  fmt.Sprintf("break-glass activated (%s): policies %s for %s", rep.Holders, strings.Join(rep.Policies, ","), time.Duration(rep.TTL)*time.Second),
		Evidence: ev, FirstSeen: rep.ActivatedAt, LastSeen: rep.ActivatedAt, Count: 1}
	if c.cfg.BreakGlassNotifier == nil {
		c.logger.Error("break-glass activated with no alert notifier configured", "id", rep.ID, "accessor", rep.Accessor)
		return
	}
	c.cfg.BreakGlassNotifier.Notify(al)
}

// bgAudit writes a break-glass audit entry of its own (activation, end):
// a request at sys/break-glass/STEP whose data names the activation, never
// the token.
func (c *Core) bgAudit(ctx context.Context, a *active, step string, rep *BreakGlassReport) error {
	if a.audit == nil {
		return nil
	}
	req := &logical.Request{ID: randomID(), Operation: logical.UpdateOperation, Path: "sys/break-glass/" + step,
		Data: map[string]any{"id": rep.ID, "holders": rep.Holders, "policies": rep.Policies, "ttl": rep.TTL,
			"emergency_accessor": rep.Accessor, "ended": rep.Ended}}
	resp := &logical.Response{Data: map[string]any{"id": rep.ID}}
	if err := a.audit.LogRequest(ctx, req, nil); err != nil {
		c.logger.Error("break-glass: audit failed", "step", step, "id", rep.ID, "err", err)
		return errAuditFailed
	}
	if err := a.audit.LogResponse(ctx, req, resp, nil); err != nil {
		c.logger.Error("break-glass: audit failed", "step", step, "id", rep.ID, "err", err)
		return errAuditFailed
	}
	return nil
}

func (c *Core) bgPutReport(ctx context.Context, rep *BreakGlassReport) error {
	raw, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	if err := c.barrier.Put(ctx, breakGlassReports+rep.ID, raw); err != nil {
		return fmt.Errorf("break-glass: store report %s: %w", rep.ID, err)
	}
	return nil
}

func (c *Core) bgGetReport(ctx context.Context, id string) (*BreakGlassReport, error) {
	raw, err := c.barrier.Get(ctx, breakGlassReports+id)
	if err != nil || raw == nil {
		return nil, err
	}
	var rep BreakGlassReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		return nil, fmt.Errorf("break-glass: decode report %s: %w", id, err)
	}
	return &rep, nil
}

func (c *Core) bgAddLive(accessor, id string) {
	if _, loaded := c.bg.known.LoadOrStore(accessor, id); !loaded {
		c.bg.nKnown.Add(1)
	}
	for {
		old := c.bg.live.Load()
		m := map[string]string{}
		if old != nil {
			for k, v := range *old {
				m[k] = v
			}
		}
		m[accessor] = id
		if c.bg.live.CompareAndSwap(old, &m) {
			return
		}
	}
}

func (c *Core) bgRemoveLive(accessor string) {
	for {
		old := c.bg.live.Load()
		if old == nil {
			return
		}
		if _, ok := (*old)[accessor]; !ok {
			return
		}
		m := map[string]string{}
		for k, v := range *old {
			if k != accessor {
				m[k] = v
			}
		}
		if c.bg.live.CompareAndSwap(old, &m) {
			return
		}
	}
}

// bgLiveID is the activation of the emergency token with accessor, or "".
func (c *Core) bgLiveID(accessor string) string {
	m := c.bg.live.Load()
	if m == nil || accessor == "" {
		return ""
	}
	return (*m)[accessor]
}

// bgAnyLive reports whether any emergency token was activated since
// unseal (the event hook's fast path).
func (c *Core) bgAnyLive() bool { return c.bg.nKnown.Load() > 0 }

// bgRecordEvent appends a request made with a live emergency token to its
// report. It runs on the request's path after the response was audited,
// from the same access event the watch hub receives.
func (c *Core) bgRecordEvent(e watch.Event) {
	if e.Identity.Accessor == "" || !c.bgAnyLive() {
		return
	}
	v, ok := c.bg.known.Load(e.Identity.Accessor)
	if !ok {
		return
	}
	id, _ := v.(string)
	ctx := context.Background()
	c.bg.mu.Lock()
	defer c.bg.mu.Unlock()
	rep, err := c.bgGetReport(ctx, id)
	if err != nil || rep == nil {
		c.logger.Error("break-glass: record request: read report", "id", id, "err", err)
		return
	}
	if len(rep.Requests) >= breakGlassMaxRequests {
		rep.RequestsDropped++
	} else {
		rep.Requests = append(rep.Requests, BreakGlassRequest{Time: e.Time, RequestID: e.RequestID,
			Operation: e.Operation, Path: e.Path, Status: e.Status, Result: string(e.Result), RemoteAddr: e.RemoteAddr})
	}
	if err := c.bgPutReport(ctx, rep); err != nil {
		c.logger.Error("break-glass: record request", "id", id, "err", err)
	}
}

// bgArmExpiry revokes the emergency token when its TTL ends (the token
// store refuses it from then on anyway; the revocation ends the report).
func (c *Core) bgArmExpiry(a *active, accessor string, at time.Time) {
	d := at.Sub(c.now())
	t := time.AfterFunc(max(d, 0), func() {
		select {
		case <-a.ctx.Done():
			return
		default:
		}
		if err := a.tokens.RevokeAccessor(a.ctx, accessor); err != nil && !errors.Is(err, token.ErrInvalidToken) {
			c.logger.Error("break-glass: revoke expired emergency token", "accessor", accessor, "err", err)
		}
		c.bgEnd(a.ctx, a, accessor, "")
	})
	context.AfterFunc(a.ctx, func() { t.Stop() })
}

// bgEnd records the end of the activation of the emergency token with
// accessor, once: "expired" when its TTL has passed, "revoked" otherwise.
// It is called by the token store whenever a token is revoked.
func (c *Core) bgEnd(ctx context.Context, a *active, accessor, by string) {
	id := c.bgLiveID(accessor)
	if id == "" {
		return
	}
	c.bg.mu.Lock()
	defer c.bg.mu.Unlock()
	rep, err := c.bgGetReport(ctx, id)
	if err != nil || rep == nil {
		c.logger.Error("break-glass: end: read report", "id", id, "err", err)
		return
	}
	c.bgRemoveLive(accessor)
	if v, ok := c.bg.revokedBy.LoadAndDelete(accessor); ok && by == "" {
		by, _ = v.(string)
	}
	if !rep.EndedAt.IsZero() {
		return
	}
	now := c.now()
	if now.Before(rep.ExpiresAt) {
		rep.Ended, rep.EndedAt, rep.RevokedBy = "revoked", now, by
	} else {
		rep.Ended, rep.EndedAt = "expired", rep.ExpiresAt
	}
	if err := c.bgPutReport(ctx, rep); err != nil {
		c.logger.Error("break-glass: end", "id", id, "err", err)
	}
	if err := c.bgAudit(ctx, a, "end", rep); err != nil {
		c.logger.Error("break-glass: audit end", "id", id, "err", err)
	}
	c.logger.Warn("break-glass ended", "id", id, "accessor", accessor, "ended", rep.Ended)
}

// bgResume re-arms the expiry of every activation still running at unseal.
func (c *Core) bgResume(ctx context.Context, a *active) error {
	ids, err := c.barrier.List(ctx, breakGlassReports)
	if err != nil {
		return fmt.Errorf("break-glass: list reports: %w", err)
	}
	c.bg.live.Store(nil)
	for _, id := range ids {
		rep, err := c.bgGetReport(ctx, id)
		if err != nil {
			return err
		}
		if rep == nil || !rep.EndedAt.IsZero() {
			continue
		}
		c.bgAddLive(rep.Accessor, rep.ID)
		c.bgArmExpiry(a, rep.Accessor, rep.ExpiresAt)
	}
	return nil
}

// bgSettle ends the activations whose token is gone or past its TTL; the
// report routes call it so that an injected clock is honoured too.
func (c *Core) bgSettle(ctx context.Context, a *active) {
	m := c.bg.live.Load()
	if m == nil {
		return
	}
	now := c.now()
	for acc := range *m {
		e, err := a.tokens.LookupAccessor(ctx, acc)
		if err == nil && (e.ExpireTime.IsZero() || now.Before(e.ExpireTime)) {
			continue
		}
		if err == nil {
			if rerr := a.tokens.RevokeAccessor(ctx, acc); rerr != nil && !errors.Is(rerr, token.ErrInvalidToken) {
				c.logger.Error("break-glass: revoke expired emergency token", "accessor", acc, "err", rerr)
			}
		}
		c.bgEnd(ctx, a, acc, "")
	}
}

func (c *Core) bgRevokeReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "id"); err != nil {
		return nil, err
	}
	id, _, err := logical.Str(req.Data, "id")
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, logical.BadRequest("missing required field 'id'")
	}
	c.bg.mu.Lock()
	rep, err := c.bgGetReport(ctx, id)
	c.bg.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if rep == nil {
		return nil, logical.Errorf(http.StatusNotFound, "no break-glass activation %q", id)
	}
	if rep.EndedAt.IsZero() {
		a := c.active
		c.bg.revokedBy.Store(rep.Accessor, tokenAccessor(req))
		if err := a.tokens.RevokeAccessor(ctx, rep.Accessor); err != nil && !errors.Is(err, token.ErrInvalidToken) {
			c.bg.revokedBy.Delete(rep.Accessor)
			return nil, err
		}
		c.bgEnd(ctx, a, rep.Accessor, tokenAccessor(req))
	}
	return nil, nil
}

func (c *Core) bgReportReq(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	c.bgSettle(ctx, c.active)
	id := p["id"]
	if id == "" {
		ids, err := c.barrier.List(ctx, breakGlassReports)
		if err != nil {
			return nil, err
		}
		slices.Sort(ids)
		return &logical.Response{Data: map[string]any{"keys": ids}}, nil
	}
	c.bg.mu.Lock()
	rep, err := c.bgGetReport(ctx, id)
	c.bg.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if rep == nil {
		return nil, nil
	}
	m, err := rep.data()
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: m}, nil
}

// wipeBreakGlass drops an attempt in progress (on seal).
func (c *Core) wipeBreakGlass() {
	c.bg.mu.Lock()
	defer c.bg.mu.Unlock()
	if c.bg.attempt != nil {
		c.bg.attempt.wipe()
		c.bg.attempt = nil
	}
	c.bg.live.Store(nil)
	c.bg.known.Clear()
	c.bg.nKnown.Store(0)
}
