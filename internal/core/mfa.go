package core

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/mfa"
)

// mfaHeader is the header carrying MFA passcodes (Vault's X-Vault-MFA),
// in canonical form. It never reaches a backend's headers, the audit log
// or an event.
const mfaHeader = "X-Vault-Mfa"

type mfaHeaderKey struct{}

// withMFAHeader keeps req's X-Vault-MFA values for the login step
// (backends see only their mount's passthrough headers).
func withMFAHeader(ctx context.Context, req *logical.Request) context.Context {
	if v := req.Headers.Values(mfaHeader); len(v) > 0 {
		return context.WithValue(ctx, mfaHeaderKey{}, v)
	}
	return ctx
}

func mfaCredentials(values []string) ([]mfa.Credential, error) {
	creds, err := mfa.ParseHeader(values)
	if err != nil {
		return nil, logical.BadRequest("%s", err.Error())
	}
	return creds, nil
}

// mfaBackend serves identity/: MFA routes (mfa/...) from the MFA store,
// the rest from the identity store.
type mfaBackend struct {
	id, mfa logical.Backend
}

func isMFAPath(p string) bool { return p == "mfa" || strings.HasPrefix(p, "mfa/") }

func (b mfaBackend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if isMFAPath(req.Path) {
		return b.mfa.HandleRequest(ctx, req)
	}
	return b.id.HandleRequest(ctx, req)
}

func (b mfaBackend) ExistenceCheck(ctx context.Context, req *logical.Request) (found, exists bool, err error) {
	if isMFAPath(req.Path) {
		return false, false, nil
	}
	if ec, ok := b.id.(logical.ExistenceChecker); ok {
		return ec.ExistenceCheck(ctx, req)
	}
	return false, false, nil
}

func (b mfaBackend) OtherNames(ctx context.Context, req *logical.Request) ([]string, error) {
	if isMFAPath(req.Path) {
		return nil, nil
	}
	if on, ok := b.id.(logical.OtherNamer); ok {
		return on.OtherNames(ctx, req)
	}
	return nil, nil
}

func (b mfaBackend) Help(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if isMFAPath(req.Path) {
		return b.mfa.(logical.Helper).Help(ctx, req)
	}
	if h, ok := b.id.(logical.Helper); ok {
		return h.Help(ctx, req)
	}
	return nil, logical.ErrUnsupportedPath
}

// identityName names an entity for otpauth URLs.
func (a *active) identityName(id string) (string, bool) {
	r, ok := a.identity.Resolve(id)
	if !ok || r.Identity == nil {
		return "", false
	}
	return r.Identity.EntityName, true
}

// mfaSysRoutes are the sys/ routes of MFA; they reach the store of the
// unsealed core at each request.
func (c *Core) mfaSysRoutes() []logical.Route {
	var proto *mfa.Store
	r := proto.SysMethodRoute()
	for op := range r.Ops {
		r.Ops[op] = func(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
			return c.active.mfa.SysMethodRoute().Ops[op](ctx, req, p)
		}
	}
	return []logical.Route{r, {
		Pattern: "mfa/validate", Unauthenticated: true, Ops: ops{logical.UpdateOperation: c.mfaValidate},
		Synopsis:    "Complete a login held for MFA: returns its token.",
		Description: "mfa_request_id is the login response's auth.mfa_requirement.mfa_request_id; mfa_payload maps a method id (or name) to a list of one passcode.",
		Fields: logical.Fields{
			{Name: "mfa_request_id", Description: "The id of the held login."},
			{Name: "mfa_payload", Type: logical.TypeMap, Description: "Method id or name to a list of one passcode."},
		},
	}}
}

// heldLogin is a login waiting for sys/mfa/validate: the Auth the auth
// method returned (TTLs already bounded), the mount and path.
type heldLogin struct {
	au       logical.Auth
	accessor string
	path     string
}

// loginMFA applies login enforcements to a login whose entity is ir. It
// returns held true when the login now waits for sys/mfa/validate (au
// then holds only the requirement).
// passed is true when the login passed MFA inline (X-Vault-MFA).
func (c *Core) loginMFA(ctx context.Context, a *active, m *mount, path string, au *logical.Auth, ir *identity.Resolved) (held, passed bool, err error) {
	in := mfa.LoginInput{MountAccessor: m.entry.Accessor, MountType: m.entry.Type}
	if ir != nil {
		in.EntityID = ir.EntityID
		if ir.Identity != nil {
			for g := range ir.Identity.Groups {
				in.GroupIDs = append(in.GroupIDs, g)
			}
		}
	}
	cons, err := a.mfa.LoginConstraints(in)
	if err != nil || len(cons) == 0 {
		return false, false, err
	}
	if v, _ := ctx.Value(mfaHeaderKey{}).([]string); len(v) > 0 {
		creds, err := mfaCredentials(v)
		if err != nil {
			return false, false, err
		}
		if err := a.mfa.CheckLogin(ctx, in.EntityID, cons, creds); err != nil {
			return false, false, err
		}
		return false, true, nil
	}
	h := &heldLogin{au: *au, accessor: m.entry.Accessor, path: path}
	r := a.mfa.Hold(in.EntityID, cons, h)
	*au = logical.Auth{MFARequirement: r, EntityID: in.EntityID}
	c.logger.Info("login held for mfa", "path", path, "entity_id", in.EntityID)
	return true, false, nil
}

// mfaValidate completes a held login.
func (c *Core) mfaValidate(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	fields := logical.Fields{{Name: "mfa_request_id"}, {Name: "mfa_payload"}}
	if err := fields.Unknown(req.Data); err != nil {
		return nil, err
	}
	id, _, err := logical.Str(req.Data, "mfa_request_id")
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, logical.BadRequest("mfa_request_id is required")
	}
	payload, err := mfaPayload(req.Data["mfa_payload"])
	if err != nil {
		return nil, err
	}
	a := c.active
	v, err := a.mfa.Validate(ctx, id, payload)
	if err != nil {
		return nil, err
	}
	h := v.(*heldLogin)
	var m *mount
	for _, am := range a.mounts.list(tableAuth) {
		if am.entry.Accessor == h.accessor && strings.HasPrefix(h.path, am.entry.Path) {
			m = am
		}
	}
	if m == nil {
		return nil, logical.Errorf(http.StatusForbidden, "permission denied: the auth method of this login is no longer mounted")
	}
	if !m.enter() {
		return nil, errMountChanged
	}
	defer m.leave()
	au := h.au
	var ir *identity.Resolved
	if au.EntityID != "" {
		r, ok := a.identity.Resolve(au.EntityID)
		if !ok || r.Disabled {
			return nil, errEntityDisabled
		}
		ir = r
	}
	if err := c.issueLoginToken(ctx, a, m, h.path, &au, ir); err != nil {
		return nil, err
	}
	a.mfa.MarkPassed(au.Accessor, a.mfa.Now())
	return &logical.Response{Auth: &au}, nil
}

// mfaPayload reads mfa_payload: method -> [passcode] (a bare string is
// taken as a one-element list).
func mfaPayload(raw any) (map[string][]string, error) {
	obj, ok := raw.(map[string]any)
	if !ok || len(obj) == 0 {
		return nil, logical.BadRequest("mfa_payload: expected an object of method id to a list of one passcode")
	}
	if len(obj) > mfa.MaxHeaderEntries {
		return nil, logical.BadRequest("mfa_payload: more than %d methods", mfa.MaxHeaderEntries)
	}
	out := make(map[string][]string, len(obj))
	for k, v := range obj {
		codes, _, err := logical.Strings(map[string]any{"mfa_payload": v}, "mfa_payload")
		if err != nil {
			return nil, err
		}
		out[k] = codes
	}
	return out, nil
}

// checkPathMFA enforces the mfa_methods of the rules that allowed the
// request.
func (a *active) checkPathMFA(req *logical.Request, te *logical.TokenInfo, names []string) error {
	creds, err := mfaCredentials(req.Headers.Values(mfaHeader))
	if err != nil {
		return err
	}
	return a.mfa.CheckPath(te.EntityID, te.Accessor, names, creds)
}

// unionMFA merges b into a (both sorted).
func unionMFA(a, b []string) []string {
	for _, n := range b {
		if i, found := slices.BinarySearch(a, n); !found {
			a = slices.Insert(slices.Clip(a), i, n)
		}
	}
	return a
}

// RequireMFA makes the next login of entityID pass MFA with a method it
// has a secret for (any configured one if it has none), whatever the
// login enforcements say; the first login that passes clears the mark. It
// is the containment hook ("require MFA on next login") and fails while
// the core is sealed.
func (c *Core) RequireMFA(ctx context.Context, entityID string) error {
	// The detectors call this from the goroutine a seal waits for: never
	// wait for the state lock (as the other containment calls).
	if !c.stateLock.TryRLock() {
		return errStateChanging
	}
	defer c.stateLock.RUnlock()
	if c.active == nil {
		return logical.ErrSealed
	}
	return c.active.mfa.RequireMFA(ctx, entityID)
}

const mfaHelp = `MFA under identity/mfa: TOTP methods, each entity's secret per method,
and login enforcements that hold matching logins until sys/mfa/validate.`

// OpenAPI documents the identity and MFA routes together.
func (b mfaBackend) OpenAPI(mountPoint string) map[string]any {
	o, ok := b.id.(openAPIer)
	if !ok {
		return map[string]any{"paths": map[string]any{}}
	}
	doc := o.OpenAPI(mountPoint)
	if mo, ok := b.mfa.(openAPIer); ok {
		if paths, ok := doc["paths"].(map[string]any); ok {
			maps.Copy(paths, mo.OpenAPI(mountPoint)["paths"].(map[string]any))
		}
	}
	return doc
}
