package token

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
)

// backend serves auth/token/*. Paths are relative to the mount; its
// routes (paths.go) serve HandleRequest, SudoPaths, ExistenceCheck and
// path-help.
type backend struct {
	*logical.Router
	s *Store
}

var (
	_ logical.Backend          = (*backend)(nil)
	_ logical.SudoPaths        = (*backend)(nil)
	_ logical.ExistenceChecker = (*backend)(nil)
)

// Backend returns the logical.Backend serving auth/token/*. The core must
// have authenticated the caller (req.ClientToken, req.Token) and checked
// the ACL, including sudo for SudoPaths.
func (s *Store) Backend() logical.Backend {
	b := &backend{s: s}
	b.Router = logical.NewRouter(backendHelp, b.routes()...)
	return b
}

// HandleRequest implements logical.Backend through the routes; handlers
// may read req.Data without a nil check.
func (b *backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if req.Data == nil {
		req.Data = map[string]any{}
	}
	return b.Router.HandleRequest(ctx, req)
}

// caller returns the entry of the token making the request, including a
// token whose last use is this request.
func (b *backend) caller(ctx context.Context, req *logical.Request) (*Entry, error) {
	if t := req.ClientToken.Reveal(); t != "" {
		if isBatch(t) {
			return b.s.lookupBatch(ctx, t)
		}
		if len(t) > maxTokenLen {
			return nil, ErrInvalidToken
		}
		return b.s.lookupCaller(ctx, b.s.hash(t))
	}
	if req.Token != nil && req.Token.Accessor != "" {
		h, ok, err := b.s.byAccessor(ctx, req.Token.Accessor)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ErrInvalidToken
		}
		e, err := b.s.lookupCaller(ctx, h)
		if err != nil {
			return nil, err
		}
		if e.Accessor != req.Token.Accessor {
			return nil, ErrInvalidToken
		}
		return e, nil
	}
	return nil, ErrInvalidToken
}

// policyList reads a list of policy names without trimming: " root" stays
// " root" and is rejected, instead of silently becoming "root".
func policyList(data map[string]any, key string) ([]string, bool, error) {
	raw, ok := data[key]
	if !ok || raw == nil {
		return nil, false, nil
	}
	var in []string
	switch t := raw.(type) {
	case string:
		in = strings.Split(t, ",")
	case []string:
		in = t
	case []any:
		for _, v := range t {
			s, ok := v.(string)
			if !ok {
				return nil, true, logical.BadRequest("field %q: expected a list of strings", key)
			}
			in = append(in, s)
		}
	default:
		return nil, true, logical.BadRequest("field %q: expected a list of strings", key)
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	pols, err := normalizePolicies(key, out)
	if err != nil {
		return nil, true, err
	}
	return pols, true, nil
}

type createInput struct {
	policies    []string
	polSet      bool
	meta        map[string]string
	ttl         time.Duration
	explicitMax time.Duration
	period      time.Duration
	renewable   bool
	numUses     int
	noDefault   bool
	noParent    bool
	displayName string
	id          string
	typ         string // "", TypeService or TypeBatch
}

// createFields are the fields of auth/token/create, as in Vault. The
// official Go client always sends entity_alias, empty.
var createFields = createDocs.Names()

func parseCreate(d map[string]any) (*createInput, error) {
	for _, k := range []string{"bound_cidrs", "token_bound_cidrs"} {
		if _, ok := d[k]; ok {
			// Refused like any unknown field, with the way to get it.
			return nil, logical.BadRequest("unknown field %q: token create cannot bind CIDRs; create the token through a role (auth/token/roles/NAME token_bound_cidrs)", k)
		}
	}
	if err := logical.UnknownFields(d, createFields...); err != nil {
		return nil, err
	}
	if err := logical.NotSupported(d, "entity_alias"); err != nil {
		return nil, err
	}
	in := &createInput{renewable: true}
	var err error
	var set bool
	if in.policies, in.polSet, err = policyList(d, "policies"); err != nil {
		return nil, err
	}
	if in.meta, _, err = logical.StringMap(d, "meta"); err != nil {
		return nil, err
	}
	if in.ttl, set, err = logical.Duration(d, "ttl"); err != nil {
		return nil, err
	}
	if !set {
		if in.ttl, _, err = logical.Duration(d, "lease"); err != nil {
			return nil, err
		}
	}
	if in.explicitMax, _, err = logical.Duration(d, "explicit_max_ttl"); err != nil {
		return nil, err
	}
	if in.period, _, err = logical.Duration(d, "period"); err != nil {
		return nil, err
	}
	if r, ok, err := logical.Bool(d, "renewable"); err != nil {
		return nil, err
	} else if ok {
		in.renewable = r
	}
	if in.numUses, _, err = logical.Int(d, "num_uses"); err != nil {
		return nil, err
	}
	if in.numUses < 0 {
		return nil, logical.BadRequest("field \"num_uses\": cannot be negative")
	}
	if in.noDefault, _, err = logical.Bool(d, "no_default_policy"); err != nil {
		return nil, err
	}
	if in.noParent, _, err = logical.Bool(d, "no_parent"); err != nil {
		return nil, err
	}
	if in.displayName, _, err = logical.Str(d, "display_name"); err != nil {
		return nil, err
	}
	if in.id, _, err = logical.Str(d, "id"); err != nil {
		return nil, err
	}
	typ, _, err := logical.Str(d, "type")
	if err != nil {
		return nil, err
	}
	switch typ {
	case "", tokenparams.TypeDefault, tokenparams.TypeDefaultService: // the role, if any, decides
	case TypeService, TypeBatch:
		in.typ = typ
	default:
		return nil, logical.BadRequest("field \"type\": must be \"service\" or \"batch\"")
	}
	if len(in.meta) > 64 {
		return nil, logical.BadRequest("field \"meta\": more than 64 entries")
	}
	for k, v := range in.meta {
		if k == "" || len(k) > 128 || len(v) > 512 {
			return nil, logical.BadRequest("field \"meta\": keys must be 1-128 bytes and values at most 512 bytes")
		}
	}
	return in, nil
}

// sanitizeDisplayName turns name into "token-name" with runs of characters
// other than letters, digits and '-' replaced by '-'.
func sanitizeDisplayName(name string) string {
	if name == "" {
		return "token"
	}
	var sb strings.Builder
	sb.WriteString("token-")
	dash := false
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-'
		if !ok {
			if !dash {
				sb.WriteByte('-')
			}
			dash = true
			continue
		}
		dash = false
		sb.WriteRune(r)
		if sb.Len() >= 128 {
			break
		}
	}
	return strings.TrimRight(sb.String(), "-")
}

func forbidden(msg string) error { return logical.Errorf(http.StatusForbidden, "%s", msg) }

// subset reports whether every policy in want, other than "default", is in have.
func subset(want, have []string) bool {
	for _, p := range want {
		if p != "default" && !slices.Contains(have, p) {
			return false
		}
	}
	return true
}

func (b *backend) create(ctx context.Context, req *logical.Request, orphan bool, roleName string) (*logical.Response, error) {
	in, err := parseCreate(req.Data)
	if err != nil {
		return nil, err
	}
	parent, err := b.caller(ctx, req)
	if err != nil {
		return nil, err
	}
	if parent.Type == TypeBatch {
		return nil, ErrBatchParent
	}
	if parent.Path == BreakGlassPath {
		return nil, ErrBreakGlassParent
	}
	if parent.useLimited() {
		// Orphans too: a use-limited sudo token must not mint unlimited ones.
		return nil, ErrUseLimitedParent
	}
	root := parent.IsRoot()
	sudo := root || (b.s.sudo != nil && b.s.sudo(ctx, req))

	var role *Role
	if roleName != "" {
		if !validName(roleName) {
			return nil, logical.BadRequest("invalid role name")
		}
		if role, err = b.s.role(ctx, roleName); err != nil {
			return nil, err
		}
		if role == nil {
			return nil, logical.BadRequest("unknown role %s", roleName)
		}
	}
	if in.id != "" && !sudo {
		return nil, forbidden("root or sudo privileges required to specify token id")
	}
	if in.noParent {
		if !sudo {
			return nil, forbidden("root or sudo privileges required to create orphan token")
		}
		orphan = true
	}
	if in.period > 0 && role == nil && !sudo {
		return nil, forbidden("root or sudo privileges required to create periodic token")
	}

	policies := in.policies
	if !in.polSet {
		switch {
		case role != nil && len(role.AllowedPolicies) > 0:
			policies = slices.Clone(role.AllowedPolicies)
		default:
			policies = slices.Clone(parent.Policies)
		}
	}
	if slices.Contains(policies, "root") && !root {
		return nil, forbidden("root policy can only be granted by a root token")
	}
	switch {
	case role != nil && len(role.AllowedPolicies) > 0:
		if !subset(policies, role.AllowedPolicies) {
			return nil, forbidden("token policies must be a subset of the role's allowed policies")
		}
	case !root:
		if !subset(policies, parent.Policies) {
			return nil, forbidden("child token policies must be a subset of the parent's policies")
		}
	}
	noDefault := in.noDefault
	if role != nil {
		for _, p := range policies {
			if slices.Contains(role.DisallowedPolicies, p) {
				return nil, forbidden("token policies include a policy the role disallows")
			}
		}
		noDefault = noDefault || role.Token.NoDefaultPolicy || slices.Contains(role.DisallowedPolicies, "default")
	}
	policies = slices.DeleteFunc(policies, func(p string) bool { return p == "default" && noDefault })
	if !noDefault && !slices.Contains(policies, "root") && !slices.Contains(policies, "default") {
		policies = append(policies, "default")
	}
	if len(policies) == 0 {
		return nil, logical.BadRequest("token must have at least one policy")
	}

	e := &Entry{
		ID:             sensitive.NewString(in.id),
		Policies:       policies,
		Meta:           in.meta,
		DisplayName:    sanitizeDisplayName(in.displayName),
		NumUses:        in.numUses,
		TTL:            in.ttl,
		ExplicitMaxTTL: in.explicitMax,
		Period:         in.period,
		Renewable:      in.renewable,
		Orphan:         orphan,
		EntityID:       parent.EntityID,
		Role:           roleName,
		Type:           createType(in.typ, role),
		maxTTL:         req.MountConfig.MaxLeaseTTL,
	}
	if e.Type == TypeBatch {
		// As in Vault, the request may not ask for what a batch token
		// cannot be; the role's own explicit max TTL still caps it.
		period := in.period
		if role != nil && role.Token.Period > 0 {
			period = role.Token.Period
		}
		if err := batchRefusal(slices.Contains(policies, "root"), period, in.numUses); err != nil {
			return nil, err
		}
		if in.explicitMax > 0 {
			return nil, logical.BadRequest("batch tokens cannot have explicit_max_ttl set: their ttl is final")
		}
	}
	mount := req.MountPoint
	if mount == "" {
		mount = "auth/token/"
	}
	e.Path = mount + req.Path
	if role != nil {
		e.Orphan = e.Orphan || role.Orphan
		e.Renewable = e.Renewable && role.Renewable
		if role.PathSuffix != "" {
			e.Path += "/" + role.PathSuffix
		}
		if role.Token.ExplicitMaxTTL > 0 && (e.ExplicitMaxTTL == 0 || role.Token.ExplicitMaxTTL < e.ExplicitMaxTTL) {
			e.ExplicitMaxTTL = role.Token.ExplicitMaxTTL
		}
		if role.Token.Period > 0 {
			e.Period = role.Token.Period
		}
		e.BoundCIDRs = slices.Clone(role.Token.BoundCIDRs)
	}
	if !e.Orphan {
		e.ParentAccessor = parent.Accessor
	}
	if e.TTL == 0 && e.Period == 0 && !e.IsRoot() && req.MountConfig.DefaultLeaseTTL > 0 {
		e.TTL = req.MountConfig.DefaultLeaseTTL
	}
	requested := e.TTL
	token, err := b.s.Create(ctx, e)
	if err != nil {
		return nil, err
	}
	resp := &logical.Response{Auth: authFor(e, token)}
	if requested > e.TTL && e.Period == 0 {
		resp.Warnings = append(resp.Warnings, "ttl was capped by the explicit or maximum ttl")
	}
	return resp, nil
}

// createType is the type of a token created through auth/token/create: a
// role of type service or batch forces it; default-batch makes batch the
// default; otherwise the request's type field, service by default.
func createType(requested string, role *Role) string {
	if role != nil {
		switch role.Token.Type {
		case TypeService, TypeBatch:
			return role.Token.Type
		case tokenparams.TypeDefaultBatch:
			if requested == "" {
				return TypeBatch
			}
		}
	}
	if requested == "" {
		return TypeService
	}
	return requested
}

// authFor builds the Auth of a response for e. token may be "".
func authFor(e *Entry, token string) *logical.Auth {
	return &logical.Auth{
		ClientToken:    sensitive.NewString(token),
		Accessor:       e.Accessor,
		Policies:       slices.Clone(e.Policies),
		TokenPolicies:  slices.Clone(e.Policies),
		Metadata:       e.Meta,
		DisplayName:    e.DisplayName,
		TTL:            e.TTL,
		ExplicitMaxTTL: e.ExplicitMaxTTL,
		Period:         e.Period,
		NumUses:        e.NumUses,
		Renewable:      e.Renewable,
		BoundCIDRs:     slices.Clone(e.BoundCIDRs),
		EntityID:       e.EntityID,
		Orphan:         e.Orphan,
		TokenType:      e.Type,
	}
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// lookupData is the data of a lookup response. id is included only when
// non-empty, so lookup-accessor never shows a token.
func lookupData(e *Entry, now time.Time, id string) map[string]any {
	d := map[string]any{
		"accessor":          e.Accessor,
		"creation_time":     e.CreationTime.Unix(),
		"creation_ttl":      seconds(e.TTL),
		"display_name":      e.DisplayName,
		"entity_id":         e.EntityID,
		"expire_time":       nil,
		"explicit_max_ttl":  seconds(e.ExplicitMaxTTL),
		"identity_policies": []string{},
		"issue_time":        e.CreationTime.UTC().Format(time.RFC3339Nano),
		"meta":              nil,
		"num_uses":          e.NumUses,
		"orphan":            e.Orphan,
		"path":              e.Path,
		"policies":          slices.Clone(e.Policies),
		"renewable":         e.Renewable,
		"ttl":               seconds(ttlLeft(e, now)),
		"type":              e.Type,
	}
	if id != "" {
		d["id"] = id
	}
	if !e.ExpireTime.IsZero() {
		d["expire_time"] = e.ExpireTime.UTC().Format(time.RFC3339Nano)
	}
	if len(e.Meta) > 0 {
		d["meta"] = e.Meta
	}
	if e.Period > 0 {
		d["period"] = seconds(e.Period)
	}
	if len(e.BoundCIDRs) > 0 {
		d["bound_cidrs"] = slices.Clone(e.BoundCIDRs)
	}
	if e.Role != "" {
		d["role"] = e.Role
	}
	if !e.lastRenew.IsZero() {
		d["last_renewal_time"] = e.lastRenew.Unix()
		d["last_renewal"] = e.lastRenew.UTC().Format(time.RFC3339Nano)
	}
	return d
}

func requiredStr(d map[string]any, key string) (string, error) {
	v, ok, err := logical.Str(d, key)
	if err != nil {
		return "", err
	}
	if !ok || v == "" {
		return "", logical.BadRequest("missing %s", key)
	}
	return v, nil
}

// invalidAccessor maps an unknown accessor to a 400, as Vault does.
func invalidAccessor(err error) error {
	if errors.Is(err, ErrInvalidToken) {
		return logical.BadRequest("invalid accessor")
	}
	return err
}

func (b *backend) lookup(ctx context.Context, req *logical.Request, path string) (*logical.Response, error) {
	var (
		e   *Entry
		id  string
		err error
	)
	switch path {
	case "lookup-self":
		id = req.ClientToken.Reveal() // lookup-self shows the token to its owner
		e, err = b.caller(ctx, req)
	case "lookup":
		if id, err = requiredStr(req.Data, "token"); err != nil {
			return nil, err
		}
		if req.ClientToken.Equal(sensitive.NewString(id)) {
			e, err = b.caller(ctx, req)
		} else {
			e, err = b.s.Lookup(ctx, id)
		}
	case "lookup-accessor":
		var acc string
		if acc, err = requiredStr(req.Data, "accessor"); err != nil {
			return nil, err
		}
		e, err = b.s.LookupAccessor(ctx, acc)
		err = invalidAccessor(err)
	}
	if err != nil {
		return nil, err
	}
	d := lookupData(e, b.s.now(), id)
	if b.s.identPol != nil && e.EntityID != "" {
		if p := b.s.identPol(e.EntityID); len(p) > 0 {
			d["identity_policies"] = slices.Clone(p)
		}
	}
	return &logical.Response{Data: d}, nil
}

func (b *backend) renew(ctx context.Context, req *logical.Request, path string) (*logical.Response, error) {
	inc, _, err := logical.Duration(req.Data, "increment")
	if err != nil {
		return nil, err
	}
	var (
		e     *Entry
		token string
	)
	// ask lets the issuing auth method refuse the renewal first.
	ask := func(cur *Entry, lerr error) error {
		if lerr != nil || b.s.onRenew == nil {
			return lerr
		}
		return b.s.onRenew(ctx, cur, req)
	}
	switch path {
	case "renew-self":
		token = req.ClientToken.Reveal()
		if token == "" {
			return nil, ErrInvalidToken
		}
		if isBatch(token) {
			// Renew refuses it before any auth method is asked.
			_, err := b.s.Renew(ctx, token, inc)
			return nil, err
		}
		if err = ask(b.s.Lookup(ctx, token)); err == nil {
			e, err = b.s.Renew(ctx, token, inc)
		}
	case "renew":
		if token, err = requiredStr(req.Data, "token"); err != nil {
			return nil, err
		}
		if isBatch(token) {
			_, err := b.s.Renew(ctx, token, inc)
			return nil, err
		}
		if err = ask(b.s.Lookup(ctx, token)); err == nil {
			e, err = b.s.Renew(ctx, token, inc)
		}
	case "renew-accessor":
		acc, aerr := requiredStr(req.Data, "accessor")
		if aerr != nil {
			return nil, aerr
		}
		h, ok, herr := b.s.byAccessor(ctx, acc)
		switch {
		case herr != nil:
			err = herr
		case !ok:
			err = logical.BadRequest("invalid accessor")
		default:
			if err = ask(b.s.LookupAccessor(ctx, acc)); err == nil {
				e, err = b.s.renew(ctx, h, inc)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	a := authFor(e, token)
	a.TTL = ttlLeft(e, b.s.now())
	return &logical.Response{Auth: a}, nil
}

func (b *backend) revoke(ctx context.Context, req *logical.Request, path string) error {
	switch path {
	case "revoke-self":
		if req.ClientToken.Empty() {
			return ErrInvalidToken
		}
		return b.s.Revoke(ctx, req.ClientToken.Reveal())
	case "revoke":
		t, err := requiredStr(req.Data, "token")
		if err != nil {
			return err
		}
		return b.s.Revoke(ctx, t)
	case "revoke-orphan":
		t, err := requiredStr(req.Data, "token")
		if err != nil {
			return err
		}
		return b.s.RevokeOrphan(ctx, t)
	case "revoke-accessor":
		a, err := requiredStr(req.Data, "accessor")
		if err != nil {
			return err
		}
		return invalidAccessor(b.s.RevokeAccessor(ctx, a))
	}
	return logical.ErrUnsupportedPath
}

func (b *backend) listAccessors(ctx context.Context) (*logical.Response, error) {
	keys, err := b.s.st.List(ctx, accPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if validAccessor(k) {
			out = append(out, k)
		}
	}
	return &logical.Response{Data: map[string]any{"keys": out}}, nil
}
