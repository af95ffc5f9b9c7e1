package core

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

func (c *Core) controlGroupRoutes() []logical.Route {
	acc := logical.Fields{{Name: "accessor", Description: "The accessor of the control group's wrapping token."}}
	return []logical.Route{
		{Pattern: "control-group/request", Ops: ops{logical.UpdateOperation: c.cgRequestReq},
			Synopsis:    "Read a held request's status: approved, request_path, request_entity, authorizations.",
			Description: "Answered to the requester, to members of the request's approver groups, and to root.",
			Fields:      acc},
		{Pattern: "control-group/authorize", Ops: ops{logical.UpdateOperation: c.cgDecideReq(true)},
			Synopsis: "Approve a held request (a member of a factor's group; never the requester).",
			Fields:   acc},
		{Pattern: "control-group/deny", Ops: ops{logical.UpdateOperation: c.cgDecideReq(false)},
			Synopsis: "Deny a held request (Keyward): its unwrap is refused from now on.",
			Fields:   append(slices.Clone(acc), logical.Field{Name: "reason", Description: "Why (kept with the request)."})},
		{Pattern: "control-group/requests", Ops: ops{logical.ListOperation: c.cgListReq, logical.ReadOperation: c.cgListReq},
			Synopsis: "List the pending requests the caller can approve, or made itself (Keyward)."},
	}
}

// cgAccessor reads the accessor field of a control group request.
func cgAccessor(req *logical.Request, fields logical.Fields) (string, error) {
	if err := fields.Unknown(req.Data); err != nil {
		return "", err
	}
	acc, _, err := logical.Str(req.Data, "accessor")
	if err != nil {
		return "", err
	}
	if acc == "" {
		return "", logical.BadRequest("missing accessor")
	}
	return acc, nil
}

// errNoCGRequest is the answer for an unknown or expired accessor.
var errNoCGRequest = logical.BadRequest("no pending control group request with that accessor")

// cgFactorsOf returns the factors of r whose groups the caller's entity
// is in (nil for none), and the entity's name.
func (c *Core) cgFactorsOf(a *active, r *cgRequest, entityID string) (factors []string, name string) {
	if entityID == "" || a.identity == nil {
		return nil, ""
	}
	res, ok := a.identity.Resolve(entityID)
	if !ok || res.Disabled || res.Identity == nil {
		return nil, ""
	}
	for _, f := range r.Factors {
		for _, g := range res.Identity.Groups {
			if slices.Contains(f.GroupNames, g) {
				factors = append(factors, f.Name)
				break
			}
		}
	}
	return factors, res.Identity.EntityName
}

func (c *Core) cgRequestReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	acc, err := cgAccessor(req, logical.Fields{{Name: "accessor"}})
	if err != nil {
		return nil, err
	}
	a := c.active
	c.cg.mu.Lock()
	r, err := c.cgLoad(ctx, acc)
	c.cg.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if r == nil || !c.now().Before(r.Expires) {
		return nil, errNoCGRequest
	}
	if !req.Token.Root && req.Token.Accessor != r.RequesterAccessor {
		if f, _ := c.cgFactorsOf(a, r, req.Token.EntityID); len(f) == 0 {
			return nil, errNoCGRequest // the same answer as for no request
		}
	}
	return &logical.Response{Data: r.status()}, nil
}

// cgDecideReq approves (or denies) a held request as the caller's entity.
func (c *Core) cgDecideReq(approve bool) logical.Handler {
	fields := logical.Fields{{Name: "accessor"}}
	if !approve {
		fields = append(fields, logical.Field{Name: "reason"})
	}
	return func(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
		acc, err := cgAccessor(req, fields)
		if err != nil {
			return nil, err
		}
		reason, _, err := logical.Str(req.Data, "reason")
		if err != nil {
			return nil, err
		}
		if len(reason) > 1024 {
			return nil, logical.BadRequest("reason longer than 1024 bytes")
		}
		a := c.active
		c.cg.mu.Lock()
		defer c.cg.mu.Unlock()
		r, err := c.cgLoad(ctx, acc)
		if err != nil {
			return nil, err
		}
		if r == nil || !c.now().Before(r.Expires) {
			return nil, errNoCGRequest
		}
		t := req.Token
		if t.EntityID == "" {
			return nil, logical.Errorf(http.StatusForbidden, "approving a control group request needs an identity: log in with an auth method whose alias belongs to an entity in an approver group")
		}
		if t.EntityID == r.RequesterEntity || t.Accessor == r.RequesterAccessor {
			c.logger.Warn("control group self-approval refused", "accessor", r.Accessor, "entity_id", t.EntityID)
			return nil, logical.Errorf(http.StatusForbidden, "separation of duties: the requester cannot approve or deny their own control group request")
		}
		factors, name := c.cgFactorsOf(a, r, t.EntityID)
		if len(factors) == 0 {
			return nil, logical.Errorf(http.StatusForbidden, "you are not a member of any approver group of this control group request")
		}
		switch {
		case r.Used:
			return nil, logical.BadRequest("control group request %s was already unwrapped", r.Accessor)
		case r.Denied != nil:
			return nil, logical.BadRequest("control group request %s was already denied", r.Accessor)
		}
		ap := cgApproval{EntityID: t.EntityID, EntityName: name, Accessor: t.Accessor, Factors: factors, Time: c.now().UTC(), Reason: reason}
		was := r.approved()
		if !approve {
			r.Denied = &ap
		} else if !slices.ContainsFunc(r.Approvals, func(o cgApproval) bool { return o.EntityID == t.EntityID }) {
			r.Approvals = append(r.Approvals, ap)
		}
		if err := c.cgPut(ctx, r); err != nil {
			return nil, err
		}
		step := "authorized"
		if !approve {
			step = "denied"
		}
		c.logger.Info("control group request "+step, "accessor", r.Accessor, "path", r.Path, "entity_id", t.EntityID,
			"approved", r.approved())
		if approve && !was && r.approved() {
			if err := c.cgAudit(ctx, a, req, controlGroupPrefix+"approved",
				map[string]any{"accessor": r.Accessor, "request_path": r.Path, "approvals": len(r.Approvals)}, nil); err != nil {
				return nil, err
			}
		}
		return &logical.Response{Data: r.status()}, nil
	}
}

// cgListReq lists the pending requests the caller can decide or made.
func (c *Core) cgListReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	a := c.active
	c.cg.mu.Lock()
	defer c.cg.mu.Unlock()
	keys, err := c.barrier.List(ctx, cgRequestsKey)
	if err != nil {
		return nil, err
	}
	slices.Sort(keys)
	now := c.now()
	out, info := []string{}, map[string]any{}
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			continue
		}
		r, err := c.cgLoad(ctx, k)
		if err != nil {
			return nil, err
		}
		if r == nil {
			continue
		}
		if !now.Before(r.Expires) {
			if err := c.cgDelete(ctx, r); err != nil {
				return nil, err
			}
			continue
		}
		if r.Used || r.Denied != nil {
			continue
		}
		mine := req.Token.Accessor == r.RequesterAccessor
		if !req.Token.Root && !mine {
			if f, _ := c.cgFactorsOf(a, r, req.Token.EntityID); len(f) == 0 || req.Token.EntityID == r.RequesterEntity {
				continue
			}
		}
		out = append(out, r.Accessor)
		st := r.status()
		info[r.Accessor] = map[string]any{"request_path": r.Path, "operation": st["operation"],
			"request_entity": st["request_entity"], "approved": st["approved"], "factors": st["factors"],
			"expires_at": st["expires_at"], "mine": mine}
	}
	return &logical.Response{Data: map[string]any{"keys": out, "key_info": info}}, nil
}
