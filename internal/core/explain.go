package core

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
)

var explainFields = logical.Fields{
	{Name: "path", Description: "The request path to explain (without /v1/)."},
	{Name: "operation", Description: "create, read, update, patch, delete or list.", Default: "read"},
	{Name: "accessor", Description: "Explain for the token with this accessor."},
	{Name: "token", Description: "Explain for this token."},
	{Name: "policies", Type: logical.TypeSlice, Description: "Explain for a caller holding these policies (instead of a token)."},
	{Name: "entity_id", Description: "The caller's entity id (for entity_ids conditions)."},
	{Name: "metadata", Type: logical.TypeKVPairs, Description: "Verified login claims of a caller given by policies."},
	{Name: "environment", Description: "The caller's environment (overrides the token's)."},
	{Name: "group_names", Type: logical.TypeSlice, Description: "The caller's groups."},
	{Name: "remote_addr", Description: "The client address to evaluate source_cidrs against (default: unknown)."},
	{Name: "time", Description: "RFC 3339 time to evaluate time windows at (default: now)."},
	{Name: "mfa_age", Type: logical.TypeDuration, Description: "How long ago the caller passed MFA (default: never)."},
	{Name: "token_ttl", Type: logical.TypeDuration, Description: "The caller's token TTL (default: the token's)."},
}

// explainReq serves sys/policies/explain: which policy and rule decide a
// request for a token (by accessor or value) or a caller described by its
// policies and context, and which conditions held. The explained token's
// own value never appears in the answer.
func (c *Core) explainReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	a := c.active
	if err := explainFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	str := func(k string) (string, error) { v, _, err := logical.Str(req.Data, k); return v, err }
	path, err := str("path")
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, logical.BadRequest("missing required field 'path'")
	}
	cp, err := policy.CleanPath(path)
	if err != nil {
		return nil, logical.BadRequest("invalid path %q", path)
	}
	opName, err := str("operation")
	if err != nil {
		return nil, err
	}
	if opName == "" {
		opName = "read"
	}
	op := policy.Operation(opName)
	if !slices.Contains([]policy.Operation{policy.OpCreate, policy.OpRead, policy.OpUpdate, policy.OpPatch, policy.OpDelete, policy.OpList}, op) {
		return nil, logical.BadRequest("operation must be create, read, update, patch, delete or list")
	}
	accessor, err := str("accessor")
	if err != nil {
		return nil, err
	}
	tok, err := str("token")
	if err != nil {
		return nil, err
	}
	pols, _, err := logical.Strings(req.Data, "policies")
	if err != nil {
		return nil, err
	}
	var names []string
	var ident *policy.Identity
	rc := &policy.RequestContext{Time: c.now()}
	switch {
	case accessor != "" || tok != "":
		e, err := a.tokens.LookupAccessor(ctx, accessor)
		if accessor == "" {
			e, err = a.tokens.Lookup(ctx, tok)
		}
		if err != nil {
			return nil, logical.BadRequest("invalid token or accessor")
		}
		cl := a.callerOf(e)
		names, ident = cl.policies, cl.ident
		rc = c.requestContext(e, ident, nil)
	case len(pols) > 0:
		names = pols
		meta, _, err := logical.StringMap(req.Data, "metadata")
		if err != nil {
			return nil, err
		}
		rc.Claims, rc.Environment = meta, meta[EnvironmentMetaKey]
	default:
		id, err := str("entity_id")
		if err != nil {
			return nil, err
		}
		if id == "" {
			return nil, logical.BadRequest("give accessor, token, entity_id or policies")
		}
		r, ok := a.identity.Resolve(id)
		if !ok {
			return nil, logical.BadRequest("no entity with id %q", id)
		}
		names, ident = r.Policies, r.Identity
		rc.EntityID = id
		for _, g := range r.Identity.Groups {
			rc.GroupNames = append(rc.GroupNames, g)
		}
	}
	if err := explainOverrides(req.Data, rc); err != nil {
		return nil, err
	}
	rc.PathEnvironment = a.pathEnvironment(cp)
	out := map[string]any{"path": cp, "operation": string(op), "policies": names, "path_environment": rc.PathEnvironment,
		"caller_environment": rc.Environment}
	if isRoot(names) {
		out["allowed"], out["reason"] = true, "allowed: root token"
		return &logical.Response{Data: out}, nil
	}
	acl, err := a.policies.acl(names, ident)
	if err != nil {
		return nil, err
	}
	e := acl.Explain(cp, op, nil, rc)
	out["allowed"], out["sudo"], out["reason"], out["pattern"] = e.Allowed, e.Sudo, e.Reason, e.Pattern
	out["capabilities"] = nonNilStrings(e.Capabilities)
	if e.DeniedParam != "" {
		out["denied_parameter"] = e.DeniedParam
	}
	rules := []map[string]any{}
	for _, r := range e.Rules {
		conds := []map[string]any{}
		for _, cr := range r.Conditions {
			m := map[string]any{"holds": cr.Holds}
			if cr.Failure != "" {
				m["failure"] = cr.Failure
			}
			conds = append(conds, m)
		}
		rules = append(rules, map[string]any{"policy": r.Policy, "pattern": r.Pattern, "capabilities": r.Capabilities,
			"applies": r.Applies, "conditions": conds})
	}
	out["rules"] = rules
	return &logical.Response{Data: out}, nil
}

// explainOverrides sets the context fields the request gives.
func explainOverrides(data map[string]any, rc *policy.RequestContext) error {
	if v, ok, err := logical.Str(data, "entity_id"); err != nil {
		return err
	} else if ok {
		rc.EntityID = v
	}
	if v, ok, err := logical.Str(data, "environment"); err != nil {
		return err
	} else if ok {
		rc.Environment = v
	}
	if v, ok, err := logical.Strings(data, "group_names"); err != nil {
		return err
	} else if ok {
		rc.GroupNames = v
	}
	if v, ok, err := logical.Str(data, "remote_addr"); err != nil {
		return err
	} else if ok && v != "" {
		addr, err := netip.ParseAddr(v)
		if err != nil {
			return logical.BadRequest("remote_addr: not an IP address")
		}
		rc.RemoteAddr = addr.Unmap()
	}
	if v, ok, err := logical.Str(data, "time"); err != nil {
		return err
	} else if ok && v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return logical.BadRequest("time: not an RFC 3339 time")
		}
		rc.Time = t
	}
	if v, ok, err := logical.Duration(data, "mfa_age"); err != nil {
		return err
	} else if ok {
		rc.MFATime = rc.Time.Add(-v)
	}
	if v, ok, err := logical.Duration(data, "token_ttl"); err != nil {
		return err
	} else if ok {
		rc.TokenTTL = v
	}
	return nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

var whoCanFields = logical.Fields{
	{Name: "path", Description: "The request path (without /v1/)."},
	{Name: "operation", Description: "create, read, update, patch, delete or list.", Default: "read"},
}

// whoCanReq serves sys/policies/who-can: every ACL policy that alone could
// perform the operation on the path (outright, under conditions, or
// possibly through a templated rule), and every auth role whose logins'
// policies together could. The
// identity store's groups and entities are further holders of policy
// lists, judged the same way as roles (reach).
func (c *Core) whoCanReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	a := c.active
	if err := whoCanFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	path, _, err := logical.Str(req.Data, "path")
	if err != nil {
		return nil, err
	}
	cp, err := policy.CleanPath(path)
	if err != nil || path == "" {
		return nil, logical.BadRequest("invalid or missing path")
	}
	opName, _, err := logical.Str(req.Data, "operation")
	if err != nil {
		return nil, err
	}
	if opName == "" {
		opName = "read"
	}
	op := policy.Operation(opName)
	if !slices.Contains([]policy.Operation{policy.OpCreate, policy.OpRead, policy.OpUpdate, policy.OpPatch, policy.OpDelete, policy.OpList}, op) {
		return nil, logical.BadRequest("operation must be create, read, update, patch, delete or list")
	}
	reach := func(names []string) (policy.Access, []string, error) {
		if isRoot(names) || slices.Contains(names, "root") {
			return policy.AccessAllowed, []string{"root"}, nil
		}
		return policy.Reach(a.policies.parsedPolicies(names), cp, op)
	}
	pols := []map[string]any{}
	for _, name := range a.policies.names() {
		acc, via, err := reach([]string{name})
		if err != nil {
			return nil, err
		}
		if acc != policy.AccessNone {
			pols = append(pols, map[string]any{"name": name, "access": string(acc), "rules": via})
		}
	}
	roles := []map[string]any{}
	for _, m := range a.mounts.list(tableAuth) {
		rr, ok := m.backend.(logical.RoleReporter)
		if !ok {
			continue
		}
		grants, err := rr.RoleGrants(ctx, m.view)
		if err != nil {
			return nil, err
		}
		for _, g := range grants {
			names := slices.Clone(g.Policies)
			if !g.NoDefaultPolicy && !slices.Contains(names, "default") {
				names = append(names, "default")
			}
			acc, via, err := reach(names)
			if err != nil {
				return nil, err
			}
			if acc == policy.AccessNone {
				continue
			}
			roles = append(roles, map[string]any{"mount": m.entry.Path, "type": m.entry.Type, "role": g.Role,
				"policies": names, "access": string(acc), "rules": via, "bindings": g.Bindings})
		}
	}
	// Groups and entities of the identity store: a group's own policies,
	// an entity's identity policies (its own and its groups'), each with
	// "default" as its tokens normally have it. A disabled entity is
	// listed (its access returns when it is enabled) and marked.
	groups, entities := []map[string]any{}, []map[string]any{}
	gh, eh := a.identity.PolicyHolders()
	for _, set := range []struct {
		holders []identity.Holder
		out     *[]map[string]any
	}{{gh, &groups}, {eh, &entities}} {
		for _, h := range set.holders {
			names := h.Policies
			if !slices.Contains(names, "default") {
				names = append(slices.Clone(names), "default")
			}
			acc, via, err := reach(names)
			if err != nil {
				return nil, err
			}
			if acc == policy.AccessNone {
				continue
			}
			row := map[string]any{"id": h.ID, "name": h.Name, "policies": h.Policies, "access": string(acc), "rules": via}
			if h.Type != "" {
				row["type"] = h.Type
			} else if h.Disabled {
				row["disabled"] = true
			}
			*set.out = append(*set.out, row)
		}
	}
	return &logical.Response{Data: map[string]any{"path": cp, "operation": string(op), "policies": pols, "roles": roles,
		"groups": groups, "entities": entities}}, nil
}
