package core

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
)

// Just-in-time access: an operator configures what may be asked for
// (sys/access/config/NAME: policies, approver groups, approvals, max TTL);
// a requester asks for some of those policies for a TTL with a reason
// (sys/access/requests); members of the approver groups approve or deny
// (sys/access/requests/ID/approve|deny), never the requester; once
// approved the requester collects, once, an orphan, non-renewable token
// with exactly those policies that expires at the TTL
// (sys/access/requests/ID/collect). A request not approved and collected
// within the config's request_ttl expires. Every step is a request
// through the pipeline, so audited and seen by the watch hub; the token
// carries the request id in its metadata (access_request_id), so its use
// can be traced back.

const (
	accessPrefix         = "sys/access/"
	accessConfigKey      = accessPrefix + "config/"
	accessRequestsKey    = accessPrefix + "requests/"
	defaultAccessMaxTTL  = time.Hour
	defaultAccessReqTTL  = 24 * time.Hour
	maxAccessReasonBytes = 1024
)

type accessState struct{ mu sync.Mutex }

// accessConfig is one sys/access/config/NAME entry.
type accessConfig struct {
	Policies       []string      `json:"policies"`
	ApproverGroups []string      `json:"approver_groups"`
	Approvals      int           `json:"approvals"`
	MaxTTL         time.Duration `json:"max_ttl"`
	RequestTTL     time.Duration `json:"request_ttl"`
}

func (cf *accessConfig) data() map[string]any {
	return map[string]any{"policies": cf.Policies, "approver_groups": cf.ApproverGroups, "approvals": cf.Approvals,
		"max_ttl": int64(cf.MaxTTL / time.Second), "request_ttl": int64(cf.RequestTTL / time.Second)}
}

// accessRequest is one JIT request, stored at accessRequestsKey+ID.
type accessRequest struct {
	ID                string        `json:"id"`
	Config            string        `json:"config"`
	Policies          []string      `json:"policies"`
	TTL               time.Duration `json:"ttl"`
	Reason            string        `json:"reason"`
	ApproverGroups    []string      `json:"approver_groups"`
	Approvals         int           `json:"approvals"`
	RequesterAccessor string        `json:"requester_accessor"`
	RequesterEntity   string        `json:"requester_entity,omitempty"`
	RequesterName     string        `json:"requester_name"`
	Created           time.Time     `json:"created"`
	Expires           time.Time     `json:"expires"`
	Approved          []cgApproval  `json:"approved_by"`
	Denied            *cgApproval   `json:"denied,omitempty"`
	CollectedAt       time.Time     `json:"collected_at,omitzero"`
	TokenAccessor     string        `json:"token_accessor,omitempty"`
}

func (r *accessRequest) state(now time.Time) string {
	switch {
	case !r.CollectedAt.IsZero():
		return "collected"
	case r.Denied != nil:
		return "denied"
	case !now.Before(r.Expires):
		return "expired"
	case len(r.Approved) >= r.Approvals:
		return "approved"
	}
	return "pending"
}

func (r *accessRequest) data(now time.Time) map[string]any {
	approvers := []map[string]any{}
	for _, ap := range r.Approved {
		approvers = append(approvers, map[string]any{"entity_id": ap.EntityID, "entity_name": ap.EntityName,
			"time": ap.Time.Format(time.RFC3339), "reason": ap.Reason})
	}
	out := map[string]any{"id": r.ID, "config": r.Config, "policies": r.Policies, "ttl": int64(r.TTL / time.Second),
		"reason": r.Reason, "status": r.state(now), "approvals": len(r.Approved), "required": r.Approvals,
		"approver_groups": r.ApproverGroups, "approved_by": approvers,
		"request_entity": map[string]any{"id": r.RequesterEntity, "name": r.RequesterName},
		"created_at":     r.Created.Format(time.RFC3339), "expires_at": r.Expires.Format(time.RFC3339)}
	if r.Denied != nil {
		out["denied_by"] = map[string]any{"entity_id": r.Denied.EntityID, "entity_name": r.Denied.EntityName, "reason": r.Denied.Reason}
	}
	if !r.CollectedAt.IsZero() {
		out["collected_at"] = r.CollectedAt.Format(time.RFC3339)
		out["token_accessor"] = r.TokenAccessor
	}
	return out
}

func (c *Core) accessRoutes() []logical.Route {
	return []logical.Route{
		{Pattern: "access/config", Sudo: true, Ops: ops{logical.ListOperation: c.accessConfigList, logical.ReadOperation: c.accessConfigList},
			Synopsis: "List the just-in-time access configurations."},
		{Pattern: "access/config/{name}", Sudo: true,
			Ops:      ops{logical.ReadOperation: c.accessConfigReq, logical.UpdateOperation: c.accessConfigReq, logical.DeleteOperation: c.accessConfigReq},
			Synopsis: "Configure what may be requested just in time: policies, approver groups, approvals, TTLs.",
			Fields: logical.Fields{
				{Name: "policies", Type: logical.TypeSlice, Description: "The policies a request may ask for (never root)."},
				{Name: "approver_groups", Type: logical.TypeSlice, Description: "Identity group names whose members approve."},
				{Name: "approvals", Type: logical.TypeInt, Description: "Distinct approvers needed (default 1; the requester never counts)."},
				{Name: "max_ttl", Description: "The longest TTL a request may ask for (default 1h)."},
				{Name: "request_ttl", Description: "How long a request waits for approval and collection (default 24h)."},
			}},
		{Pattern: "access/requests", Ops: ops{logical.UpdateOperation: c.accessCreateReq, logical.ListOperation: c.accessListReq, logical.ReadOperation: c.accessListReq},
			Synopsis: "Ask for policies just in time (policies, ttl, reason), or list your requests and those you can approve.",
			Fields: logical.Fields{
				{Name: "policies", Type: logical.TypeSlice, Description: "The policies wanted, all from one configuration."},
				{Name: "ttl", Description: "How long the token should live (default and at most the configuration's max_ttl)."},
				{Name: "reason", Description: "Why (required; shown to approvers and kept)."},
				{Name: "config", Description: "The configuration to ask under (default: the first, by name, allowing every policy)."},
			}},
		{Pattern: "access/requests/{id}", Ops: ops{logical.ReadOperation: c.accessReadReq}, Synopsis: "Read a just-in-time request."},
		{Pattern: "access/requests/{id}/approve", Ops: ops{logical.UpdateOperation: c.accessDecideReq(true)},
			Synopsis: "Approve a request (a member of an approver group; never the requester).",
			Fields:   logical.Fields{{Name: "reason", Description: "An optional comment."}}},
		{Pattern: "access/requests/{id}/deny", Ops: ops{logical.UpdateOperation: c.accessDecideReq(false)},
			Synopsis: "Deny a request.", Fields: logical.Fields{{Name: "reason", Description: "Why."}}},
		{Pattern: "access/requests/{id}/collect", Ops: ops{logical.UpdateOperation: c.accessCollectReq},
			Synopsis: "Collect the token of an approved request (the requester, once)."},
	}
}

func validAccessName(kind, s string) error {
	if s == "" || len(s) > 128 || strings.ContainsAny(s, "/.*+ ") {
		return logical.BadRequest("invalid %s", kind)
	}
	return nil
}

func (c *Core) accessGetConfig(ctx context.Context, name string) (*accessConfig, error) {
	raw, err := c.barrier.Get(ctx, accessConfigKey+name)
	if err != nil || raw == nil {
		return nil, err
	}
	var cf accessConfig
	if err := json.Unmarshal(raw, &cf); err != nil {
		return nil, fmt.Errorf("access: decode config %s: %w", name, err)
	}
	return &cf, nil
}

func (c *Core) accessConfigList(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	keys, err := c.barrier.List(ctx, accessConfigKey)
	if err != nil {
		return nil, err
	}
	slices.Sort(keys)
	return &logical.Response{Data: map[string]any{"keys": keys}}, nil
}

func (c *Core) accessConfigReq(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	name := p["name"]
	if err := validAccessName("configuration name", name); err != nil {
		return nil, err
	}
	c.access.mu.Lock()
	defer c.access.mu.Unlock()
	switch req.Operation {
	case logical.ReadOperation:
		cf, err := c.accessGetConfig(ctx, name)
		if err != nil || cf == nil {
			return nil, err
		}
		return &logical.Response{Data: cf.data()}, nil
	case logical.DeleteOperation:
		return nil, c.barrier.Delete(ctx, accessConfigKey+name)
	}
	if err := logical.UnknownFields(req.Data, "policies", "approver_groups", "approvals", "max_ttl", "request_ttl"); err != nil {
		return nil, err
	}
	cf := &accessConfig{Approvals: 1, MaxTTL: defaultAccessMaxTTL, RequestTTL: defaultAccessReqTTL}
	var problems []string
	pols, _, err := logical.Strings(req.Data, "policies")
	if err != nil {
		return nil, err
	}
	if err := tokenparams.ValidatePolicies("policies", pols); err != nil {
		return nil, logical.BadRequest("%v", err)
	}
	if len(pols) == 0 || slices.Contains(pols, "root") {
		problems = append(problems, "policies: give at least one policy, never root")
	}
	cf.Policies = slices.Compact(slices.Sorted(slices.Values(pols)))
	groups, _, err := logical.Strings(req.Data, "approver_groups")
	if err != nil {
		return nil, err
	}
	if len(groups) == 0 {
		problems = append(problems, "approver_groups: give at least one identity group")
	}
	cf.ApproverGroups = groups
	if n, ok, err := logical.Int(req.Data, "approvals"); err != nil {
		return nil, err
	} else if ok {
		if n < 1 || n > 100 {
			problems = append(problems, "approvals: from 1 to 100")
		}
		cf.Approvals = n
	}
	for key, dst := range map[string]*time.Duration{"max_ttl": &cf.MaxTTL, "request_ttl": &cf.RequestTTL} {
		if d, ok, err := logical.Duration(req.Data, key); err != nil {
			return nil, err
		} else if ok {
			if d < time.Second || d > 768*time.Hour {
				problems = append(problems, key+": from 1s to 768h")
			}
			*dst = d
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, logical.BadRequest("%s", strings.Join(problems, "; "))
	}
	raw, err := json.Marshal(cf)
	if err != nil {
		return nil, err
	}
	return nil, c.barrier.Put(ctx, accessConfigKey+name, raw)
}

func (c *Core) accessLoad(ctx context.Context, id string) (*accessRequest, error) {
	if validAccessName("request id", id) != nil {
		return nil, nil
	}
	raw, err := c.barrier.Get(ctx, accessRequestsKey+id)
	if err != nil || raw == nil {
		return nil, err
	}
	var r accessRequest
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("access: decode request %s: %w", id, err)
	}
	return &r, nil
}

func (c *Core) accessPut(ctx context.Context, r *accessRequest) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return c.barrier.Put(ctx, accessRequestsKey+r.ID, raw)
}

func (c *Core) accessCreateReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "policies", "ttl", "reason", "config"); err != nil {
		return nil, err
	}
	pols, _, err := logical.Strings(req.Data, "policies")
	if err != nil {
		return nil, err
	}
	pols = slices.Compact(slices.Sorted(slices.Values(pols)))
	if len(pols) == 0 {
		return nil, logical.BadRequest("missing policies")
	}
	reason, _, err := logical.Str(req.Data, "reason")
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, logical.BadRequest("missing reason: say why the access is needed")
	}
	if len(reason) > maxAccessReasonBytes {
		return nil, logical.BadRequest("reason longer than %d bytes", maxAccessReasonBytes)
	}
	cfgName, _, err := logical.Str(req.Data, "config")
	if err != nil {
		return nil, err
	}
	ttl, haveTTL, err := logical.Duration(req.Data, "ttl")
	if err != nil {
		return nil, err
	}
	c.access.mu.Lock()
	defer c.access.mu.Unlock()
	names := []string{cfgName}
	if cfgName == "" {
		if names, err = c.barrier.List(ctx, accessConfigKey); err != nil {
			return nil, err
		}
		slices.Sort(names)
	} else if err := validAccessName("configuration name", cfgName); err != nil {
		return nil, err
	}
	var cf *accessConfig
	for _, n := range names {
		x, err := c.accessGetConfig(ctx, n)
		if err != nil {
			return nil, err
		}
		if x != nil && !slices.ContainsFunc(pols, func(p string) bool { return !slices.Contains(x.Policies, p) }) {
			cf, cfgName = x, n
			break
		}
	}
	if cf == nil {
		return nil, logical.BadRequest("no access configuration allows requesting policies %s", strings.Join(pols, ", "))
	}
	if !haveTTL {
		ttl = cf.MaxTTL
	}
	if ttl < time.Second || ttl > cf.MaxTTL {
		return nil, logical.BadRequest("ttl must be from 1s to the configuration's max_ttl (%s)", cf.MaxTTL)
	}
	now := c.now().UTC().Truncate(time.Second)
	r := &accessRequest{ID: randomID(), Config: cfgName, Policies: pols, TTL: ttl, Reason: reason,
		ApproverGroups: cf.ApproverGroups, Approvals: cf.Approvals,
		RequesterAccessor: req.Token.Accessor, RequesterEntity: req.Token.EntityID,
		RequesterName: c.entityName(c.active, req.Token.EntityID, req.Token.DisplayName),
		Created:       now, Expires: now.Add(cf.RequestTTL), Approved: []cgApproval{}}
	if err := c.accessPut(ctx, r); err != nil {
		return nil, err
	}
	c.logger.Info("access requested", "id", r.ID, "policies", r.Policies, "ttl", ttl.String(), "requester_accessor", r.RequesterAccessor)
	return &logical.Response{Data: r.data(c.now())}, nil
}

// accessApprover returns the caller's entity name when it is in one of
// r's approver groups.
func (c *Core) accessApprover(r *accessRequest, entityID string) (string, bool) {
	a := c.active
	if entityID == "" || a.identity == nil {
		return "", false
	}
	res, ok := a.identity.Resolve(entityID)
	if !ok || res.Disabled || res.Identity == nil {
		return "", false
	}
	for _, g := range res.Identity.Groups {
		if slices.Contains(r.ApproverGroups, g) {
			return res.Identity.EntityName, true
		}
	}
	return "", false
}

func (r *accessRequest) isRequester(t *logical.TokenInfo) bool {
	return t.Accessor == r.RequesterAccessor || (r.RequesterEntity != "" && t.EntityID == r.RequesterEntity)
}

var errNoAccessRequest = logical.Errorf(http.StatusNotFound, "no such access request")

func (c *Core) accessReadReq(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	c.access.mu.Lock()
	r, err := c.accessLoad(ctx, p["id"])
	c.access.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errNoAccessRequest
	}
	if _, ok := c.accessApprover(r, req.Token.EntityID); !ok && !req.Token.Root && !r.isRequester(req.Token) {
		return nil, errNoAccessRequest
	}
	return &logical.Response{Data: r.data(c.now())}, nil
}

func (c *Core) accessListReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	c.access.mu.Lock()
	defer c.access.mu.Unlock()
	ids, err := c.barrier.List(ctx, accessRequestsKey)
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	now := c.now()
	keys, info := []string{}, map[string]any{}
	for _, id := range ids {
		r, err := c.accessLoad(ctx, id)
		if err != nil {
			return nil, err
		}
		if r == nil {
			continue
		}
		if now.Sub(r.Expires) > defaultAccessReqTTL { // a day past its end: forget it
			if err := c.barrier.Delete(ctx, accessRequestsKey+id); err != nil {
				return nil, err
			}
			continue
		}
		mine := r.isRequester(req.Token)
		_, approver := c.accessApprover(r, req.Token.EntityID)
		if !mine && !req.Token.Root && !(approver && r.state(now) == "pending") {
			continue
		}
		keys = append(keys, id)
		info[id] = map[string]any{"policies": r.Policies, "status": r.state(now), "reason": r.Reason,
			"requester": r.RequesterName, "approvals": len(r.Approved), "required": r.Approvals,
			"ttl": int64(r.TTL / time.Second), "expires_at": r.Expires.Format(time.RFC3339), "mine": mine}
	}
	return &logical.Response{Data: map[string]any{"keys": keys, "key_info": info}}, nil
}

func (c *Core) accessDecideReq(approve bool) logical.Handler {
	return func(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
		if err := logical.UnknownFields(req.Data, "reason"); err != nil {
			return nil, err
		}
		reason, _, err := logical.Str(req.Data, "reason")
		if err != nil {
			return nil, err
		}
		if len(reason) > maxAccessReasonBytes {
			return nil, logical.BadRequest("reason longer than %d bytes", maxAccessReasonBytes)
		}
		c.access.mu.Lock()
		defer c.access.mu.Unlock()
		r, err := c.accessLoad(ctx, p["id"])
		if err != nil {
			return nil, err
		}
		if r == nil {
			return nil, errNoAccessRequest
		}
		t := req.Token
		if r.isRequester(t) {
			c.logger.Warn("access self-approval refused", "id", r.ID, "entity_id", t.EntityID)
			return nil, logical.Errorf(http.StatusForbidden, "separation of duties: the requester cannot approve or deny their own access request")
		}
		name, ok := c.accessApprover(r, t.EntityID)
		if !ok {
			return nil, logical.Errorf(http.StatusForbidden, "you are not a member of an approver group of this access request (%s)", strings.Join(r.ApproverGroups, ", "))
		}
		now := c.now()
		if st := r.state(now); st != "pending" && !(st == "approved" && !approve) {
			return nil, logical.BadRequest("access request %s is %s", r.ID, st)
		}
		ap := cgApproval{EntityID: t.EntityID, EntityName: name, Accessor: t.Accessor, Time: now.UTC(), Reason: reason}
		if !approve {
			r.Denied = &ap
		} else if !slices.ContainsFunc(r.Approved, func(o cgApproval) bool { return o.EntityID == t.EntityID }) {
			r.Approved = append(r.Approved, ap)
		}
		if err := c.accessPut(ctx, r); err != nil {
			return nil, err
		}
		c.logger.Info("access request decided", "id", r.ID, "approve", approve, "entity_id", t.EntityID, "status", r.state(now))
		return &logical.Response{Data: r.data(now)}, nil
	}
}

func (c *Core) accessCollectReq(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data); err != nil {
		return nil, err
	}
	a := c.active
	c.access.mu.Lock()
	defer c.access.mu.Unlock()
	r, err := c.accessLoad(ctx, p["id"])
	if err != nil {
		return nil, err
	}
	if r == nil || !r.isRequester(req.Token) {
		return nil, errNoAccessRequest
	}
	now := c.now()
	if st := r.state(now); st != "approved" {
		return nil, logical.BadRequest("access request %s is %s, not approved", r.ID, st)
	}
	// The policies are checked again now: one deleted since is not minted.
	for _, pol := range r.Policies {
		if _, ok := a.policies.get(pol); pol == "root" || (!ok && pol != "default") {
			return nil, logical.BadRequest("policy %q no longer exists", pol)
		}
	}
	te := &token.Entry{Policies: slices.Clone(r.Policies), DisplayName: "access-" + r.ID, Path: "auth/token/access",
		Orphan: true, TTL: r.TTL, ExplicitMaxTTL: r.TTL, Renewable: false,
		Meta: map[string]string{"access_request_id": r.ID, "requested_by": r.RequesterName}}
	tok, err := a.tokens.Create(ctx, te)
	if err != nil {
		return nil, fmt.Errorf("access: create token: %w", err)
	}
	r.CollectedAt, r.TokenAccessor = now.UTC(), te.Accessor
	if err := c.accessPut(ctx, r); err != nil {
		if rerr := a.tokens.RevokeAccessor(ctx, te.Accessor); rerr != nil {
			c.logger.Error("access: revoke uncollected token", "accessor", te.Accessor, "err", rerr)
		}
		return nil, err
	}
	c.logger.Info("access token collected", "id", r.ID, "accessor", te.Accessor, "policies", te.Policies, "ttl", r.TTL.String())
	return &logical.Response{Auth: &logical.Auth{ClientToken: sensitive.NewString(tok), Accessor: te.Accessor,
		Policies: te.Policies, TokenPolicies: te.Policies, TTL: te.TTL, Renewable: false, Orphan: true,
		DisplayName: te.DisplayName, Metadata: te.Meta}}, nil
}
