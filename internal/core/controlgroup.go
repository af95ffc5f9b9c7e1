package core

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
	"github.com/keyward/keyward/internal/tokenfmt"
)

// Control groups: a request on a path whose policy rule carries a
// control_group stanza (and not made by root) is not performed. It is
// stored behind the barrier and the caller gets Vault's wrapping response
// (wrap_info with a wrapping token and its accessor, TTL the control
// group's max_ttl). Approvers, members of each factor's identity groups,
// look it up (sys/control-group/request) and approve it
// (sys/control-group/authorize) or deny it (sys/control-group/deny, a
// Keyward extra); the requester's own entity never counts. Once every
// factor has its approvals the requester unwraps (sys/wrapping/unwrap with
// the wrapping token, authenticated with the requester's own token): the
// stored request then runs through the whole pipeline as the requester,
// authorized again at that time, and its response is the unwrap's answer.
// An unwrap before approval is refused and spends nothing.
//
// The stored request's data is never logged and never leaves the barrier
// except as the request it is; audit sees it HMACed, as for any request.

const (
	controlGroupPrefix = "sys/control-group/"
	cgRequestsKey      = controlGroupPrefix + "req/"
	cgTokensKey        = controlGroupPrefix + "tok/"
	cgSaltKey          = "salt"
	// cgMaxDataBytes bounds the stored request body.
	cgMaxDataBytes = 1 << 20
)

// cgState serializes reads and writes of control group requests.
type cgState struct {
	mu sync.Mutex
}

// cgApproval is one approver's decision.
type cgApproval struct {
	EntityID   string    `json:"entity_id"`
	EntityName string    `json:"entity_name"`
	Accessor   string    `json:"accessor"`
	Factors    []string  `json:"factors"`
	Time       time.Time `json:"time"`
	Reason     string    `json:"reason,omitempty"`
}

// cgRequest is a held request, stored at cgRequestsKey+Accessor.
type cgRequest struct {
	Accessor  string                      `json:"accessor"`
	TokenKey  string                      `json:"token_key"`
	Path      string                      `json:"path"`
	Operation logical.Operation           `json:"operation"`
	Data      map[string]any              `json:"data,omitempty"`
	WrapTTL   time.Duration               `json:"wrap_ttl,omitempty"`
	Factors   []policy.ControlGroupFactor `json:"factors"`
	// The requester: token accessor, entity and a display name.
	RequesterAccessor string       `json:"requester_accessor"`
	RequesterEntity   string       `json:"requester_entity,omitempty"`
	RequesterName     string       `json:"requester_name"`
	Created           time.Time    `json:"created"`
	Expires           time.Time    `json:"expires"`
	Approvals         []cgApproval `json:"approvals"`
	Denied            *cgApproval  `json:"denied,omitempty"`
	Used              bool         `json:"used,omitempty"`
}

// approved reports whether every factor has its approvals.
func (r *cgRequest) approved() bool {
	for _, f := range r.Factors {
		if r.count(f.Name) < f.Approvals {
			return false
		}
	}
	return true
}

func (r *cgRequest) count(factor string) int {
	n := 0
	for _, ap := range r.Approvals {
		if slices.Contains(ap.Factors, factor) {
			n++
		}
	}
	return n
}

// status is the request as sys/control-group/request reports it: Vault's
// fields (approved, request_path, request_entity, authorizations) and
// Keyward's (operation, factors, denied, expires_at).
func (r *cgRequest) status() map[string]any {
	auths := []map[string]any{}
	for _, ap := range r.Approvals {
		auths = append(auths, map[string]any{"entity_id": ap.EntityID, "entity_name": ap.EntityName})
	}
	factors := []map[string]any{}
	for _, f := range r.Factors {
		factors = append(factors, map[string]any{"name": f.Name, "group_names": f.GroupNames,
			"approvals": r.count(f.Name), "required": f.Approvals})
	}
	out := map[string]any{
		"approved": r.approved() && r.Denied == nil, "request_path": r.Path, "operation": string(r.Operation),
		"request_entity": map[string]any{"id": r.RequesterEntity, "name": r.RequesterName},
		"authorizations": auths, "factors": factors,
		"created_at": r.Created.UTC().Format(time.RFC3339), "expires_at": r.Expires.UTC().Format(time.RFC3339),
		"denied": r.Denied != nil, "unwrapped": r.Used,
	}
	if r.Denied != nil {
		out["denied_by"] = map[string]any{"entity_id": r.Denied.EntityID, "entity_name": r.Denied.EntityName, "reason": r.Denied.Reason}
	}
	return out
}

// controlGroupHold is what authorize returns for a request its policy
// holds for approval; handleUnsealed stores it instead of performing it.
type controlGroupHold struct{ cg *policy.ControlGroup }

func (h *controlGroupHold) Error() string { return "control group approval required" }

// cgApprovedKey marks the context of a stored request being performed
// after approval, so authorize does not hold it again.
type cgApprovedKey struct{}

type cgApprovedFor struct {
	path     string
	op       logical.Operation
	accessor string
}

func cgApproved(ctx context.Context, req *logical.Request) bool {
	v, ok := ctx.Value(cgApprovedKey{}).(cgApprovedFor)
	return ok && req.Token != nil && v.path == req.Path && v.op == req.Operation && v.accessor == req.Token.Accessor
}

// controlGroupFor returns the control group that holds req, or nil: the
// group of the rule matching the request's path (or the canonical path it
// acts on). The control group and wrapping endpoints are never held, so
// approvers can always approve.
func controlGroupFor(ctx context.Context, acl *policy.ACL, req *logical.Request, canonical string) *policy.ControlGroup {
	if req.Operation == logical.HelpOperation || strings.HasPrefix(req.Path, controlGroupPrefix) ||
		strings.HasPrefix(req.Path, "sys/wrapping/") || strings.HasPrefix(req.Path, accessPrefix) {
		return nil
	}
	cg := acl.ControlGroup(req.Path)
	if cg == nil && canonical != req.Path {
		cg = acl.ControlGroup(canonical)
	}
	if cg == nil || cgApproved(ctx, req) {
		return nil
	}
	return cg
}

func (c *Core) cgView() logical.Storage { return barrier.NewView(c.barrier, controlGroupPrefix) }

func (c *Core) cgTokenKey(ctx context.Context, tok string) (string, error) {
	key, err := logical.LoadOrCreateKey(ctx, c.cgView(), cgSaltKey, 32)
	if err != nil {
		return "", fmt.Errorf("control group: hash key: %w", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tok))
	return hex.EncodeToString(m.Sum(nil)), nil
}

func (c *Core) cgLoad(ctx context.Context, accessor string) (*cgRequest, error) {
	if accessor == "" || strings.ContainsAny(accessor, "/.") || len(accessor) > 64 {
		return nil, nil
	}
	raw, err := c.barrier.Get(ctx, cgRequestsKey+accessor)
	if err != nil || raw == nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var r cgRequest
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("control group: decode request %s: %w", accessor, err)
	}
	return &r, nil
}

func (c *Core) cgPut(ctx context.Context, r *cgRequest) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("control group: encode request %s: %w", r.Accessor, err)
	}
	if err := c.barrier.Put(ctx, cgRequestsKey+r.Accessor, raw); err != nil {
		return fmt.Errorf("control group: store request %s: %w", r.Accessor, err)
	}
	return nil
}

func (c *Core) cgDelete(ctx context.Context, r *cgRequest) error {
	if err := c.barrier.Delete(ctx, cgTokensKey+r.TokenKey); err != nil {
		return err
	}
	return c.barrier.Delete(ctx, cgRequestsKey+r.Accessor)
}

// cgHold stores req (already authorized) and answers with its wrapping
// token.
func (c *Core) cgHold(ctx context.Context, a *active, req *logical.Request, cg *policy.ControlGroup) (*logical.Response, error) {
	if req.Body != nil {
		return nil, logical.BadRequest("a control group cannot hold a streamed request")
	}
	raw, err := json.Marshal(req.Data)
	if err != nil {
		return nil, logical.BadRequest("control group: request data cannot be stored")
	}
	if len(raw) > cgMaxDataBytes {
		return nil, logical.Errorf(http.StatusRequestEntityTooLarge, "control group: request data larger than %d bytes", cgMaxDataBytes)
	}
	tok := tokenfmt.Generate(tokenfmt.Wrapping)
	tkey, err := c.cgTokenKey(ctx, tok)
	if err != nil {
		return nil, err
	}
	now := c.now().UTC().Truncate(time.Second)
	ttl := cg.TTL()
	r := &cgRequest{Accessor: rand.Text(), TokenKey: tkey, Path: req.Path, Operation: req.Operation,
		Data: req.Data, WrapTTL: req.WrapTTL, Factors: cg.Factors,
		RequesterAccessor: req.Token.Accessor, RequesterEntity: req.Token.EntityID,
		RequesterName: c.entityName(a, req.Token.EntityID, req.Token.DisplayName),
		Created:       now, Expires: now.Add(ttl), Approvals: []cgApproval{}}
	c.cg.mu.Lock()
	defer c.cg.mu.Unlock()
	if err := c.barrier.Put(ctx, cgTokensKey+tkey, []byte(r.Accessor)); err != nil {
		return nil, fmt.Errorf("control group: store token: %w", err)
	}
	if err := c.cgPut(ctx, r); err != nil {
		return nil, err
	}
	c.cgArmExpiry(a, r.Accessor, r.Expires)
	c.logger.Info("control group request held", "accessor", r.Accessor, "path", r.Path, "operation", r.Operation,
		"requester_accessor", r.RequesterAccessor, "ttl", ttl.String())
	return &logical.Response{WrapInfo: &logical.WrapInfo{Token: tok, Accessor: r.Accessor, TTL: ttl,
		CreationTime: now, CreationPath: req.Path}}, nil
}

// cgArmExpiry removes the request (and the data it holds) from storage at
// its expiry; requests outliving a restart are removed when a list or an
// unwrap finds them expired.
func (c *Core) cgArmExpiry(a *active, accessor string, at time.Time) {
	t := time.AfterFunc(max(at.Sub(c.now()), 0), func() {
		select {
		case <-a.ctx.Done():
			return
		default:
		}
		c.cg.mu.Lock()
		defer c.cg.mu.Unlock()
		r, err := c.cgLoad(a.ctx, accessor)
		if err == nil && r != nil && !c.now().Before(r.Expires) {
			err = c.cgDelete(a.ctx, r)
			if err == nil && !r.Used {
				c.logger.Info("control group request expired", "accessor", accessor, "path", r.Path)
			}
		}
		if err != nil {
			c.logger.Error("control group: remove expired request", "accessor", accessor, "err", err)
		}
	})
	context.AfterFunc(a.ctx, func() { t.Stop() })
}

// entityName is the entity's name, or fallback when it has none.
func (c *Core) entityName(a *active, entityID, fallback string) string {
	if entityID != "" && a.identity != nil {
		if r, ok := a.identity.Resolve(entityID); ok && r.Identity != nil && r.Identity.EntityName != "" {
			return r.Identity.EntityName
		}
	}
	return fallback
}

// cgUnwrap answers sys/wrapping/unwrap for a control group's wrapping
// token: handled is false for any other token, which the wrapping service
// answers. It runs without the state lock held, since an approved request
// is performed through the pipeline (which takes it).
func (c *Core) cgUnwrap(ctx context.Context, req *logical.Request, rt *routedTo) (resp *logical.Response, handled bool, err error) {
	bodyTok, _, _ := logical.Str(req.Data, "token")
	tok := bodyTok
	if tok == "" {
		tok = req.ClientToken.Reveal()
	}
	if !tokenfmt.Valid(tok) || tokenfmt.Prefix(tok) != tokenfmt.Wrapping {
		return nil, false, nil
	}
	c.stateLock.RLock()
	a := c.active
	if a == nil {
		c.stateLock.RUnlock()
		return nil, false, nil
	}
	rt.mount = "sys/"
	r, performErr := c.cgClaim(ctx, a, req, tok, bodyTok != "")
	if r == nil && performErr == nil {
		c.stateLock.RUnlock()
		return nil, false, nil
	}
	var status map[string]any
	if r != nil {
		status = map[string]any{"accessor": r.Accessor, "request_path": r.Path, "operation": string(r.Operation)}
	}
	aerr := c.cgAudit(ctx, a, req, "sys/wrapping/unwrap", status, performErr)
	c.emitEvent(a, req, nil, nil, performErr)
	c.stateLock.RUnlock()
	if aerr != nil {
		return nil, true, aerr
	}
	if performErr != nil {
		return nil, true, performErr
	}
	inner := &logical.Request{ID: req.ID, Operation: r.Operation, Path: r.Path, Data: r.Data,
		ClientToken: req.ClientToken, Connection: req.Connection, Headers: req.Headers, WrapTTL: r.WrapTTL}
	actx := context.WithValue(ctx, cgApprovedKey{}, cgApprovedFor{path: r.Path, op: r.Operation, accessor: r.RequesterAccessor})
	c.logger.Info("control group request performed", "accessor", r.Accessor, "path", r.Path, "requester_accessor", r.RequesterAccessor)
	resp, err = c.handleRequest(actx, inner, rt)
	return resp, true, err
}

// cgLookup answers sys/wrapping/lookup for a control group's wrapping
// token, as the wrapping service does for its own: the creation path, time
// and TTL, never the request. handled is false for any other token.
func (c *Core) cgLookup(ctx context.Context, req *logical.Request, rt *routedTo) (*logical.Response, bool, error) {
	tok, _, _ := logical.Str(req.Data, "token")
	if tok == "" {
		tok = req.ClientToken.Reveal()
	}
	if !tokenfmt.Valid(tok) || tokenfmt.Prefix(tok) != tokenfmt.Wrapping {
		return nil, false, nil
	}
	c.stateLock.RLock()
	defer c.stateLock.RUnlock()
	a := c.active
	if a == nil {
		return nil, false, nil
	}
	tkey, err := c.cgTokenKey(ctx, tok)
	if err != nil {
		return nil, true, err
	}
	c.cg.mu.Lock()
	var r *cgRequest
	acc, err := c.barrier.Get(ctx, cgTokensKey+tkey)
	if err == nil && acc != nil {
		r, err = c.cgLoad(ctx, string(acc))
	}
	c.cg.mu.Unlock()
	if err != nil {
		return nil, true, err
	}
	if r == nil {
		return nil, false, nil
	}
	rt.mount = "sys/"
	var resp *logical.Response
	var stepErr error
	if r.Used || !c.now().Before(r.Expires) {
		stepErr = logical.BadRequest("wrapping token is not valid or does not exist")
	} else {
		resp = &logical.Response{Data: map[string]any{"creation_path": r.Path,
			"creation_time": r.Created.Format(time.RFC3339Nano), "creation_ttl": int64(r.Expires.Sub(r.Created) / time.Second)}}
	}
	if err := c.cgAudit(ctx, a, req, "sys/wrapping/lookup", map[string]any{"accessor": r.Accessor}, stepErr); err != nil {
		return nil, true, err
	}
	c.emitEvent(a, req, nil, resp, stepErr)
	return resp, true, stepErr
}

// cgClaim finds the control group request of wrapping token tok and, when
// the caller may perform it now, marks it used and returns it. It returns
// (nil, nil) when tok is no control group's; (r or nil, err) when the
// unwrap is refused, spending nothing.
func (c *Core) cgClaim(ctx context.Context, a *active, req *logical.Request, tok string, ownToken bool) (*cgRequest, error) {
	tkey, err := c.cgTokenKey(ctx, tok)
	if err != nil {
		return nil, err
	}
	c.cg.mu.Lock()
	defer c.cg.mu.Unlock()
	acc, err := c.barrier.Get(ctx, cgTokensKey+tkey)
	if err != nil || acc == nil {
		return nil, err
	}
	r, err := c.cgLoad(ctx, string(acc))
	if err != nil || r == nil {
		return nil, err
	}
	if !ownToken || req.ClientToken.Empty() {
		return r, logical.BadRequest("control group request %s: unwrap it with your own token (X-Vault-Token) and the wrapping token in the %q field", r.Accessor, "token")
	}
	te, err := a.tokens.Lookup(ctx, req.ClientToken.Reveal())
	if err != nil {
		if errors.Is(err, token.ErrInvalidToken) {
			return r, logical.ErrPermissionDenied
		}
		return r, err
	}
	req.Token = tokenInfo(te)
	if req.Token.Accessor != r.RequesterAccessor {
		return r, logical.Errorf(http.StatusForbidden, "control group request %s: only the requester can unwrap it", r.Accessor)
	}
	switch {
	case r.Used:
		c.logger.Warn("control group wrapping token used again", "accessor", r.Accessor, "path", r.Path)
		return r, logical.BadRequest("wrapping token is not valid or does not exist")
	case !c.now().Before(r.Expires):
		if err := c.cgDelete(ctx, r); err != nil {
			return r, err
		}
		return r, logical.BadRequest("control group request %s expired before it was approved", r.Accessor)
	case r.Denied != nil:
		return r, logical.Errorf(http.StatusForbidden, "control group request %s was denied by %s", r.Accessor, r.Denied.EntityName)
	case !r.approved():
		return r, logical.Errorf(http.StatusForbidden, "control group request %s needs further approval (%s)", r.Accessor, progress(r))
	}
	// Performed once: the stored copy keeps no data from now on, only
	// the tombstone for status and audit until it expires.
	data := r.Data
	r.Used, r.Data = true, nil
	if err := c.cgPut(ctx, r); err != nil {
		return nil, err
	}
	r.Data = data
	return r, nil
}

func progress(r *cgRequest) string {
	parts := make([]string, 0, len(r.Factors))
	for _, f := range r.Factors {
		parts = append(parts, fmt.Sprintf("factor %s: %d of %d approvals", f.Name, r.count(f.Name), f.Approvals))
	}
	return strings.Join(parts, "; ")
}

// cgAudit writes a request and a response entry for a control group step
// that does not run through the pipeline (an unwrap). data names the
// request (accessor, path), never its data.
func (c *Core) cgAudit(ctx context.Context, a *active, req *logical.Request, path string, data map[string]any, stepErr error) error {
	if a.audit == nil {
		return nil
	}
	v := &logical.Request{ID: req.ID, Operation: logical.UpdateOperation, Path: path, Data: data,
		Token: req.Token, Connection: req.Connection, Headers: req.Headers, MountPoint: "sys/", MountType: "system"}
	if err := a.audit.LogRequest(ctx, v, nil); err != nil {
		c.logger.Error("control group: audit failed", "path", path, "err", err)
		return errAuditFailed
	}
	var resp *logical.Response
	if stepErr == nil {
		resp = &logical.Response{Data: data}
	}
	if err := a.audit.LogResponse(ctx, v, resp, stepErr); err != nil {
		c.logger.Error("control group: audit failed", "path", path, "err", err)
		return errAuditFailed
	}
	return nil
}
