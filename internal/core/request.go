package core

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/policy"
	"github.com/keyward/keyward/internal/sensitive"
)

// errSealRequested is returned by the sys backend for sys/seal: sealing needs
// the state lock for writing, which the request path holds for reading.
var errSealRequested = errors.New("seal requested")

// HandleRequest runs one request through the pipeline. req.Path must already
// be cleaned (the HTTP layer rejects traversal before calling this).
func (c *Core) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	start := time.Now()
	var rt routedTo
	resp, err := c.handleRequest(ctx, req, &rt)
	op := rt.op
	if op == "" {
		op = req.Operation
	}
	c.requests.Mount(rt.mount).Observe(string(op), statusOf(req, resp, err), time.Since(start))
	return resp, err
}

// routedTo is what the request metrics label a request with: the mount
// table path it routed to ("" when none) and the operation after routing
// (the create/update existence check).
type routedTo struct {
	mount string
	op    logical.Operation
}

func (c *Core) handleRequest(ctx context.Context, req *logical.Request, rt *routedTo) (*logical.Response, error) {
	if resp, handled, err := c.handleSealedPaths(ctx, req); handled {
		rt.mount = "sys/"
		return resp, err
	}
	if req.Path == "sys/wrapping/unwrap" && req.Operation == logical.UpdateOperation {
		if resp, handled, err := c.cgUnwrap(ctx, req, rt); handled {
			return resp, err
		}
	}
	if req.Path == "sys/wrapping/lookup" && (req.Operation == logical.UpdateOperation || req.Operation == logical.ReadOperation) {
		if resp, handled, err := c.cgLookup(ctx, req, rt); handled {
			return resp, err
		}
	}
	resp, err := c.handleUnsealed(ctx, req, rt)
	if errors.Is(err, errSealRequested) {
		c.stopHA()
		c.stateLock.Lock()
		c.sealLocked()
		c.stateLock.Unlock()
		c.logger.Info("sealed by request", "request_id", req.ID, "accessor", tokenAccessor(req))
		return nil, nil
	}
	return resp, err
}

// Unauthenticated reports whether path (cleaned, without /v1/) is served
// without a client token: the sealed-state sys endpoints and the paths a
// mounted backend declares unauthenticated (logins, OIDC callbacks,
// unwrap). The HTTP layer asks before reading a body, so such requests get
// the small body limit whatever token header they carry.
func (c *Core) Unauthenticated(path string) bool {
	switch path {
	case "sys/health", "sys/seal-status", "sys/init", "sys/unseal", "sys/leader",
		"sys/generate-root/attempt", "sys/generate-root/update",
		"sys/rekey/init", "sys/rekey/update", "sys/rekey/verify",
		"sys/rekey-recovery-key/init", "sys/rekey-recovery-key/update", "sys/rekey-recovery-key/verify":
		return true
	}
	if _, ok := c.cfg.SealedPaths[path]; ok {
		return true
	}
	c.stateLock.RLock()
	defer c.stateLock.RUnlock()
	if c.active == nil {
		return false
	}
	m := c.active.mounts.route(path)
	if m == nil {
		return false
	}
	rel := strings.TrimPrefix(path, m.entry.Path)
	if rel == path {
		rel = ""
	}
	return logical.MatchPath(m.unauth, rel)
}

func tokenAccessor(req *logical.Request) string {
	if req.Token == nil {
		return ""
	}
	return req.Token.Accessor
}

func (c *Core) handleUnsealed(ctx context.Context, req *logical.Request, rt *routedTo) (*logical.Response, error) {
	c.stateLock.RLock()
	defer c.stateLock.RUnlock()
	a := c.active
	if a == nil {
		if c.ha != nil && !c.barrier.Sealed() {
			return nil, ErrStandby
		}
		return nil, logical.ErrSealed
	}
	if err := c.fence(ctx); err != nil {
		return nil, err
	}
	ctx = withMFAHeader(ctx, req)
	m, routed, authErr := c.authorize(ctx, a, req)
	// A request its policy holds for approval is stored, not performed.
	var hold *controlGroupHold
	if errors.As(authErr, &hold) {
		authErr = nil
	}
	switch {
	case m != nil:
		rt.mount = m.entry.Path
	case authErr != nil:
		// Refused before routing (no or bad token): still the mount the
		// path is under, so refusals show per mount.
		if rm := a.mounts.route(req.Path); rm != nil {
			rt.mount = rm.entry.Path
		}
	}
	if routed != nil {
		rt.op = routed.Operation
	}
	// A login is refused while its client or user has spent its failed
	// tries, before the auth method hashes anything.
	login := authErr == nil && routed.Unauthenticated && m.entry.Table == tableAuth
	var loginAddr, loginUser string
	if login {
		loginAddr, loginUser = loginKeys(m.entry.Accessor, routed)
		authErr = c.limits.checkLogin(loginAddr, loginUser)
	}
	if a.audit != nil {
		if err := a.audit.LogRequest(ctx, auditView(req, routed), authErr); err != nil {
			c.logger.Error("audit request failed", "request_id", req.ID, "path", req.Path, "err", err)
			return nil, errAuditFailed
		}
	}
	if authErr != nil {
		return nil, c.auditResponse(ctx, a, req, routed, nil, authErr)
	}
	if hold != nil {
		resp, err := c.cgHold(ctx, a, req, hold.cg)
		if aerr := c.auditResponse(ctx, a, req, routed, resp, err); aerr != nil {
			return nil, aerr
		}
		return resp, err
	}
	if !m.enter() {
		return nil, c.auditResponse(ctx, a, req, routed, nil, errMountChanged)
	}
	defer m.leave()
	var resp *logical.Response
	var err error
	if routed.Operation == logical.HelpOperation {
		// Help is documentation: never a lease, a token or a wrapped
		// response.
		resp, err = help(ctx, m, routed)
	} else {
		resp, err = m.backend.HandleRequest(ctx, routed)
		if err == nil && resp == nil && routed.WrapTTL > 0 {
			resp = &logical.Response{}
		}
		if err == nil && resp != nil {
			err = c.postProcess(ctx, a, m, routed, resp)
		}
	}
	if login {
		c.limits.recordLogin(loginAddr, loginUser, err)
	}
	if aerr := c.auditResponse(ctx, a, req, routed, resp, err); aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// errAuditFailed is what a client sees when no audit device could record
// its request or response: nothing from the request is served.
var errAuditFailed = logical.Errorf(http.StatusInternalServerError, "audit: no device could record the request")

// auditResponse records the outcome. It returns the error to give the
// client: respErr, or errAuditFailed when the record could not be written.
func (c *Core) auditResponse(ctx context.Context, a *active, req, routed *logical.Request, resp *logical.Response, respErr error) error {
	if a.audit != nil {
		if err := a.audit.LogResponse(ctx, auditView(req, routed), resp, respErr); err != nil {
			c.logger.Error("audit response failed", "request_id", req.ID, "path", req.Path, "err", err)
			respErr, resp = errAuditFailed, nil
		}
	}
	c.emitEvent(a, req, routed, resp, respErr)
	return respErr
}

// auditView is the request as the audit log should see it: the full path
// with mount details once routing has happened.
func auditView(req, routed *logical.Request) *logical.Request {
	if routed == nil {
		return breakGlassAuditView(req)
	}
	v := *routed
	v.Path = req.Path
	v.Headers = req.Headers
	return breakGlassAuditView(&v)
}

// authorize authenticates the token, routes and checks the ACL. It returns
// the mount and the routed request (Path relative to the mount), or the
// reason the request is refused. routed may be non-nil with an error, so the
// refusal can be audited with its routing details.
func (c *Core) authorize(ctx context.Context, a *active, req *logical.Request) (*mount, *logical.Request, error) {
	m := a.mounts.route(req.Path)
	rel := ""
	if m != nil {
		rel = strings.TrimPrefix(req.Path, m.entry.Path)
		if rel == req.Path { // "secret" routed to "secret/"
			rel = ""
		}
	}
	// Help always needs a token, even on a login path.
	unauth := m != nil && logical.MatchPath(m.unauth, rel) && req.Operation != logical.HelpOperation

	var te *token.Entry
	var cl caller
	if !unauth {
		if req.ClientToken.Empty() {
			return nil, nil, logical.ErrPermissionDenied
		}
		remote := ""
		if req.Connection != nil {
			remote = req.Connection.RemoteAddr
		}
		var err error
		te, err = a.tokens.Use(ctx, req.ClientToken.Reveal(), remote)
		if err != nil {
			if errors.Is(err, token.ErrInvalidToken) {
				return nil, nil, logical.ErrPermissionDenied
			}
			return nil, nil, err
		}
		// A token issued by an auth method that is no longer mounted (or by
		// another mount that held its path before) is not honoured: Vault
		// revokes such tokens when the method is disabled.
		if strings.HasPrefix(te.Path, "auth/") && !strings.HasPrefix(te.Path, "auth/token/") && a.issuer(te.Path, te.CreationTime) == nil {
			return nil, nil, logical.ErrPermissionDenied
		}
		req.Token = tokenInfo(te)
		if !req.Token.Root {
			// The entity's policies are read now, not at login: a group
			// change or a disabled entity applies to the next request.
			cl = a.callerOf(te)
			if cl.disabled {
				return nil, nil, logical.ErrPermissionDenied
			}
			req.Token.IdentityPolicies = cl.identity
		}
	}
	if m == nil {
		// Only a token that could reach the path learns that nothing is
		// mounted there: others get the same 403 as for an existing mount.
		if te != nil && !req.Token.Root {
			acl, err := a.policies.acl(cl.policies, cl.ident)
			if err != nil {
				return nil, nil, err
			}
			if !allows(acl, req.Path, req.Operation) {
				return nil, nil, logical.ErrPermissionDenied
			}
		}
		return nil, nil, logical.Errorf(http.StatusNotFound, "no handler for route %q", req.Path)
	}

	req.MountType = m.entry.Type
	req.MountAccessor = m.entry.Accessor
	routed := *req
	routed.Path = rel
	routed.MountPoint = m.entry.Path
	routed.MountConfig = logical.MountConfig{
		DefaultLeaseTTL:          orDefault(m.entry.Config.DefaultLeaseTTL, c.cfg.DefaultLeaseTTL),
		MaxLeaseTTL:              orDefault(m.entry.Config.MaxLeaseTTL, c.cfg.MaxLeaseTTL),
		Options:                  m.entry.Options,
		AuditNonHMACRequestKeys:  m.entry.Config.AuditNonHMACRequestKeys,
		AuditNonHMACResponseKeys: m.entry.Config.AuditNonHMACResponseKeys,
	}
	// A backend sees only the headers its mount passes through
	// (passthrough_request_headers); the audit view keeps them all.
	routed.Headers = passthroughHeaders(req.Headers, m.entry.Config.PassthroughRequestHeaders)
	routed.Storage = m.view
	routed.Unauthenticated = unauth

	if routed.Operation == logical.UpdateOperation {
		if ec, ok := m.backend.(logical.ExistenceChecker); ok {
			found, exists, err := ec.ExistenceCheck(ctx, &routed)
			if err != nil {
				return m, &routed, err
			}
			if found && !exists {
				routed.Operation = logical.CreateOperation
			}
		}
	}

	if te != nil && !req.Token.Root {
		acl, err := a.policies.acl(cl.policies, cl.ident)
		if err != nil {
			return m, &routed, err
		}
		rc := c.requestContext(te, cl.ident, req)
		rc.PathEnvironment = m.entry.Config.Environment
		rc.MFATime = a.mfa.LastPassed(te.Accessor)
		mfaNames, err := checkACLMFA(acl, m, req.Path, rel, &routed, rc)
		if err != nil {
			return m, &routed, err
		}
		// An alias route is authorized as the path it acts on too, sudo and
		// wrapping rules included, so a deny on the canonical path covers
		// every other name for it.
		if canon := canonicalRel(m, &routed, rel); canon != rel {
			more, err := checkACLMFA(acl, m, m.entry.Path+canon, canon, &routed, rc)
			if err != nil {
				return m, &routed, err
			}
			mfaNames = unionMFA(mfaNames, more)
		}
		if on, ok := m.backend.(logical.OtherNamer); ok && routed.Operation != logical.HelpOperation {
			others, err := on.OtherNames(ctx, &routed)
			if err != nil {
				return m, &routed, err
			}
			for _, o := range others {
				if deniedExplicitly(acl, m.entry.Path+o, routed.Operation) {
					return m, &routed, logical.ErrPermissionDenied
				}
			}
		}
		if ea, ok := m.backend.(extraAuthorizer); ok && routed.Operation != logical.HelpOperation {
			for _, chk := range ea.extraChecks(&routed) {
				r := routed
				r.Operation, r.Data = chk.op, nil
				if err := checkACL(acl, m, m.entry.Path+chk.path, chk.path, &r, rc); err != nil {
					return m, &routed, err
				}
			}
		}
		// Path MFA last: a passcode is spent only by a request the ACL
		// allows.
		if len(mfaNames) > 0 && routed.Operation != logical.HelpOperation {
			if err := a.checkPathMFA(req, req.Token, mfaNames); err != nil {
				return m, &routed, err
			}
		}
		if acl.HasControlGroups() {
			if cg := controlGroupFor(ctx, acl, req, m.entry.Path+canonicalRel(m, &routed, rel)); cg != nil {
				return m, &routed, &controlGroupHold{cg: cg}
			}
		}
	}
	return m, &routed, nil
}

// canonicalRel is the mount-relative path a request acts on: the backend's
// own name for it (logical.Aliaser: a legacy route, a name it folds to
// lower case) and, for anything but a LIST, without a trailing slash, which
// backends ignore there ("users/admin/" acts on users/admin).
func canonicalRel(m *mount, routed *logical.Request, rel string) string {
	canon := rel
	if al, ok := m.backend.(logical.Aliaser); ok {
		if c := al.CanonicalPath(routed); c != "" {
			canon = c
		}
	}
	if routed.Operation != logical.ListOperation {
		canon = strings.TrimSuffix(canon, "/")
	}
	return canon
}

// extraAuthorizer is a backend whose requests also act on other paths of
// the same mount: sys/remount is a disable at sys/mounts/FROM and an
// enable at sys/mounts/TO as much as a write to sys/remount. extraChecks
// returns those paths (relative to the mount, normalised as the handler
// will use them) with the operation each stands for; the core authorizes
// every one like the request's own path, sudo and wrapping rules included.
type extraAuthorizer interface {
	extraChecks(req *logical.Request) []aclCheck
}

type aclCheck struct {
	path string
	op   logical.Operation
}

// issuer finds the auth mount that issued a token created at created
// from path: the mount that held path's mount point at that time, which
// is the current one unless the mount moved since or was replaced by
// another at the same path. nil means it no longer exists.
func (a *active) issuer(path string, created time.Time) *mount {
	if !strings.HasPrefix(path, "auth/") {
		return nil
	}
	if m := a.mounts.route(path); m != nil && m.entry.Table == tableAuth && !m.entry.pathSince().After(created) {
		return m
	}
	for _, m := range a.mounts.list(tableAuth) {
		for _, mv := range m.entry.Moves {
			if strings.HasPrefix(path, mv.From) && !created.Before(mv.Since) && created.Before(mv.Until) {
				return m
			}
		}
	}
	return nil
}

// checkACL authorizes routed against one path: full is the path the policy
// sees, rel the same path relative to the mount (for its sudo list).
func checkACL(acl *policy.ACL, m *mount, full, rel string, routed *logical.Request, rc *policy.RequestContext) error {
	_, err := checkACLMFA(acl, m, full, rel, routed, rc)
	return err
}

// checkACLMFA is checkACL, returning the MFA methods (policies'
// mfa_methods) the allowing rule requires.
func checkACLMFA(acl *policy.ACL, m *mount, full, rel string, routed *logical.Request, rc *policy.RequestContext) ([]string, error) {
	if routed.Operation == logical.HelpOperation {
		if !allows(acl, full, logical.HelpOperation) {
			return nil, logical.ErrPermissionDenied
		}
		return nil, nil
	}
	data := routed.Data
	var aliases map[string]string
	if fa, ok := m.backend.(logical.FieldAliaser); ok {
		aliases = fa.FieldAliases()
		data = logical.WithFieldAliases(data, aliases)
	}
	d := acl.CheckRequest(full, policy.Operation(routed.Operation), data, aliases, rc)
	if !d.Allowed {
		return nil, logical.ErrPermissionDenied
	}
	if logical.MatchPath(m.sudo, rel) && !d.Sudo {
		return nil, logical.ErrPermissionDenied
	}
	// A policy with min/max_wrapping_ttl on the path requires the response
	// to be wrapped, within those bounds.
	if minW, maxW := acl.WrappingTTLsRequest(full, rc); minW > 0 || maxW > 0 {
		switch {
		case routed.WrapTTL == 0:
			return nil, logical.BadRequest("this path requires response wrapping (X-Vault-Wrap-TTL)")
		case minW > 0 && routed.WrapTTL < minW:
			return nil, logical.BadRequest("wrapping TTL is below the minimum allowed (%s)", minW)
		case maxW > 0 && routed.WrapTTL > maxW:
			return nil, logical.BadRequest("wrapping TTL is above the maximum allowed (%s)", maxW)
		}
	}
	return d.MFAMethods, nil
}

// deniedExplicitly reports whether the rule acl matches path with is a
// deny, or path is not one the ACL could match (not canonical). A path no
// rule matches, or one whose rule merely lacks the capability, is not
// denied explicitly.
func deniedExplicitly(acl *policy.ACL, path string, op logical.Operation) bool {
	if c, err := policy.CleanPath(path); err != nil || c != path {
		return true
	}
	// A deny rule matches whatever the operation; only LIST looks the
	// path up differently (with its trailing "/").
	pop := policy.OpRead
	if op == logical.ListOperation {
		pop = policy.OpList
	}
	return acl.Check(path, pop, nil).Capabilities&policy.CapDeny != 0
}

// allows reports whether acl lets op on path, without parameter data.
// Help (?help=1) needs read or list on the path: Vault answers help to any
// token, Keyward only to one that could use the path, since the help names
// the path's fields (docs/api.md, "Path help").
func allows(acl *policy.ACL, path string, op logical.Operation) bool {
	if op == logical.HelpOperation {
		return acl.Check(path, policy.OpRead, nil).Allowed || acl.Check(path, policy.OpList, nil).Allowed
	}
	return acl.Check(path, policy.Operation(op), nil).Allowed
}

// help answers a help request from the backend's route declarations
// (logical.Helper); a backend without them has no help to give.
func help(ctx context.Context, m *mount, req *logical.Request) (*logical.Response, error) {
	h, ok := m.backend.(logical.Helper)
	if !ok {
		return nil, logical.Errorf(http.StatusNotFound, "no help available for %q: the %s backend does not document its paths", req.MountPoint+req.Path, m.entry.Type)
	}
	resp, err := h.Help(ctx, req)
	if errors.Is(err, logical.ErrUnsupportedPath) {
		return nil, logical.Errorf(http.StatusNotFound, "no help available for %q: no such path", req.MountPoint+req.Path)
	}
	return resp, err
}

// postProcess turns login responses into tokens and leased secrets into
// registered leases.
func (c *Core) postProcess(ctx context.Context, a *active, m *mount, req *logical.Request, resp *logical.Response) error {
	if resp.Auth != nil && resp.Auth.ClientToken.Empty() {
		if err := c.loginToken(ctx, a, m, req, resp.Auth); err != nil {
			return err
		}
	}
	if s := resp.Secret; s != nil && s.LeaseID == "" && a.leases != nil {
		if _, revocable := m.backend.(logical.Revoker); revocable {
			c.boundBatchLease(ctx, a, req, s)
			if err := a.leases.Register(ctx, req, s); err != nil {
				return fmt.Errorf("register lease: %w", err)
			}
		}
	}
	if req.WrapTTL > 0 && resp.WrapInfo == nil {
		if a.wrapper == nil {
			return logical.BadRequest("response wrapping is not available on this server")
		}
		wrapped, err := a.wrapper.Wrap(ctx, req, resp, req.WrapTTL)
		if err != nil {
			return err
		}
		*resp = *wrapped
	}
	return nil
}

// requestContext is what policy conditions see of a request made with te:
// the remote address and the core's clock; the token's TTL; and, for a
// token issued by a login (not auth/token/, whose callers choose their
// child tokens' metadata), its metadata as verified claims and its
// "environment" metadata as the caller's environment; the entity and the
// names of its groups from the identity store. The caller fills MFATime
// (the MFA store's LastPassed for the token).
func (c *Core) requestContext(te *token.Entry, ident *policy.Identity, req *logical.Request) *policy.RequestContext {
	rc := &policy.RequestContext{Time: c.now(), TokenTTL: te.TTL}
	if req != nil && req.Connection != nil {
		if addr, err := netip.ParseAddr(req.Connection.RemoteAddr); err == nil {
			rc.RemoteAddr = addr.Unmap()
		}
	}
	if loginIssued(te) {
		rc.Claims = te.Meta
		rc.Environment = te.Meta[EnvironmentMetaKey]
	}
	if ident != nil {
		rc.EntityID = ident.EntityID
		if len(ident.Groups) > 0 {
			rc.GroupNames = make([]string, 0, len(ident.Groups))
			for _, name := range ident.Groups {
				rc.GroupNames = append(rc.GroupNames, name)
			}
		}
	}
	return rc
}

// pathEnvironment is the environment label of the mount serving path.
func (a *active) pathEnvironment(path string) string {
	if m := a.mounts.route(path); m != nil {
		a.mounts.mu.RLock()
		defer a.mounts.mu.RUnlock()
		return m.entry.Config.Environment
	}
	return ""
}

// EnvironmentMetaKey is the token metadata key holding the caller's
// environment, set at login by auth methods (a JWT role's environment or
// environment_claim).
const EnvironmentMetaKey = "environment"

// loginIssued reports whether te came from a login at an auth method
// other than the token store.
func loginIssued(te *token.Entry) bool {
	return strings.HasPrefix(te.Path, "auth/") && !strings.HasPrefix(te.Path, "auth/token/")
}

// boundBatchLease caps the max TTL of a lease taken with a batch token at
// the token's expiry: a batch token is never revoked, so nothing else would
// end the lease with it. The lease belongs to the token's OwnerID, so the
// token itself can still renew or revoke it.
func (c *Core) boundBatchLease(ctx context.Context, a *active, req *logical.Request, s *logical.Secret) {
	expire, ok := a.tokens.BatchExpiry(ctx, req.ClientToken.Reveal())
	if !ok {
		return
	}
	left := max(expire.Sub(c.now()), time.Nanosecond)
	if s.MaxTTL <= 0 || s.MaxTTL > left {
		s.MaxTTL = left
	}
}

// loginToken turns an auth method's Auth into a token of the type the
// mount's token_type and the role's resolve to (tokenparams.Resolve).
func (c *Core) loginToken(ctx context.Context, a *active, m *mount, req *logical.Request, au *logical.Auth) error {
	for _, p := range au.Policies {
		if p == "root" {
			return logical.ErrPermissionDenied
		}
	}
	path := req.MountPoint + req.Path
	// The auth mount's tuned TTLs bound its tokens.
	if mx := req.MountConfig.MaxLeaseTTL; mx > 0 && (au.MaxTTL == 0 || au.MaxTTL > mx) {
		au.MaxTTL = mx
	}
	if au.TTL == 0 && au.Period == 0 {
		au.TTL = req.MountConfig.DefaultLeaseTTL
	}
	if au.MaxTTL > 0 && au.TTL > au.MaxTTL {
		au.TTL = au.MaxTTL
	}
	if g := c.loginGate.Load(); g != nil {
		if err := (*g)(ctx, req.MountPoint, LoginName(au.Metadata)); err != nil {
			return err
		}
	}
	ir, err := a.loginIdentity(ctx, m, au)
	if err != nil {
		return err
	}
	// A login matching an MFA login enforcement waits for
	// sys/mfa/validate, unless X-Vault-MFA carried the passcodes.
	held, passed, err := c.loginMFA(ctx, a, m, path, au, ir)
	if err != nil || held {
		return err
	}
	if err := c.issueLoginToken(ctx, a, m, path, au, ir); err != nil {
		return err
	}
	if passed {
		a.mfa.MarkPassed(au.Accessor, a.mfa.Now())
	}
	return nil
}

// issueLoginToken creates the token of a login whose Auth is complete
// (TTLs bounded, entity found, MFA passed).
func (c *Core) issueLoginToken(ctx context.Context, a *active, m *mount, path string, au *logical.Auth, ir *identity.Resolved) error {
	a.mounts.mu.RLock()
	mountType := m.entry.Config.TokenType
	a.mounts.mu.RUnlock()
	au.TokenType = tokenparams.Resolve(mountType, au.TokenType)
	tok, e, err := a.tokens.CreateFromAuth(ctx, au, nil, path)
	if err != nil {
		return err
	}
	au.ClientToken = sensitive.NewString(tok)
	au.Accessor = e.Accessor
	au.Policies = e.Policies
	au.TokenPolicies = e.Policies
	if ir != nil {
		// As in Vault: policies are the token's and the entity's together.
		au.IdentityPolicies = slices.Clone(ir.Policies)
		au.Policies = withIdentityPolicies(e.Policies, ir.Policies)
	}
	au.TTL = e.TTL
	au.Orphan = true
	au.TokenType = e.Type
	c.logger.Info("login", "path", path, "accessor", e.OwnerID(), "display_name", e.DisplayName, "token_type", e.Type)
	return nil
}

func tokenInfo(te *token.Entry) *logical.TokenInfo {
	return &logical.TokenInfo{
		Accessor:    te.OwnerID(),
		Policies:    te.Policies,
		DisplayName: te.DisplayName,
		EntityID:    te.EntityID,
		Metadata:    te.Meta,
		Root:        isRoot(te.Policies),
		Path:        te.Path,
	}
}

// isRoot reports whether a token is root: its policies contain exactly the
// string "root". Names are validated strictly when attached, so "Root" or
// " root" can never be present, let alone compared loosely.
func isRoot(policies []string) bool {
	return slices.Contains(policies, "root")
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
