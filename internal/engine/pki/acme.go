package pki

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/logical"
)

// ACME (RFC 8555). Every directory serves the same resources; where it
// sits decides which role and issuer sign:
//
//	acme/                              default_directory_policy, default issuer
//	roles/ROLE/acme/                   the role, its issuer
//	issuer/REF/acme/                   default_directory_policy, issuer REF
//	issuer/REF/roles/ROLE/acme/        the role, issuer REF
//
// Requests carry no token: the JWS signature by the account key is the
// authentication. The core still audits them.

var acmeResources = []struct {
	path string
	ops  func(b *backend) ops
}{
	{"directory", func(b *backend) ops { return ops{logical.ReadOperation: b.acmeDirectory} }},
	{"new-nonce", func(b *backend) ops { return ops{logical.ReadOperation: b.acmeNewNonce} }},
	{"new-account", func(b *backend) ops { return ops{logical.UpdateOperation: b.acmeNewAccount} }},
	{"account/{kid}", func(b *backend) ops { return ops{logical.UpdateOperation: b.acmeAccountUpdate} }},
	{"account/{kid}/orders", func(b *backend) ops { return ops{logical.UpdateOperation: b.acmeAccountOrders} }},
	{"new-order", func(b *backend) ops { return ops{logical.UpdateOperation: b.acmeNewOrder} }},
	{"order/{id}", func(b *backend) ops { return ops{logical.UpdateOperation: b.acmeOrderRead} }},
	{"order/{id}/finalize", func(b *backend) ops { return ops{logical.UpdateOperation: b.acmeFinalize} }},
	{"order/{id}/cert", func(b *backend) ops { return ops{logical.UpdateOperation: b.acmeCert} }},
	{"authorization/{id}", func(b *backend) ops { return ops{logical.UpdateOperation: b.acmeAuthzRead} }},
	{"challenge/{id}/{type}", func(b *backend) ops { return ops{logical.UpdateOperation: b.acmeChallenge} }},
	{"revoke-cert", func(b *backend) ops { return ops{logical.UpdateOperation: b.acmeRevoke} }},
	{"key-change", func(b *backend) ops { return ops{logical.UpdateOperation: b.acmeKeyChange} }},
}

var acmePrefixes = []string{"", "roles/{role}/", "issuer/{ref}/", "issuer/{ref}/roles/{role}/"}

func (b *backend) acmeRoutes() []logical.Route {
	var out []logical.Route
	for _, pre := range acmePrefixes {
		for _, r := range acmeResources {
			out = append(out, logical.Route{Pattern: pre + "acme/" + r.path, Ops: r.ops(b), Unauthenticated: true, SegmentGlob: pre != "",
				Synopsis: "ACME (RFC 8555) " + strings.SplitN(r.path, "/", 2)[0] + "; authenticated by the JWS, not a token."})
		}
		out = append(out, logical.Route{Pattern: pre + "acme/new-eab", Ops: ops{logical.UpdateOperation: b.newEAB},
			Synopsis: "Create an external account binding key for this ACME directory."})
	}
	out = append(out,
		logical.Route{Pattern: "config/acme", Ops: ops{logical.ReadOperation: b.readACMEConfig, logical.UpdateOperation: b.writeACMEConfig},
			Fields: acmeConfigFields, Synopsis: "Configure the ACME server."},
		logical.Route{Pattern: "config/cluster", Ops: ops{logical.ReadOperation: b.readCluster, logical.UpdateOperation: b.writeCluster},
			Fields: clusterFields, Synopsis: "This mount's URL, used in ACME URLs."},
		logical.Route{Pattern: "eab", Ops: ops{logical.ListOperation: b.listEAB}, Synopsis: "List unused external account binding keys."},
		logical.Route{Pattern: "eab/{id}", Ops: ops{logical.DeleteOperation: b.deleteEAB}, Synopsis: "Delete an unused external account binding key."},
	)
	return out
}

// acmeDir is the directory a request came through, resolved against
// config/acme.
type acmeDir struct {
	cfg    acmeConfig
	prefix string // "roles/web/", the part of the path before acme/
	base   string // absolute URL of the directory, ending in acme/
	role   *role
	issuer string // issuer ID
}

// acmeCtx is one ACME request being served.
type acmeCtx struct {
	b       *backend
	req     *logical.Request
	dir     *acmeDir
	account *acmeAccount
	jwk     *jose.JSONWebKey // the request's own key, when it names no account
	payload []byte
}

func (b *backend) resolveDir(ctx context.Context, req *logical.Request, p logical.Params) (*acmeDir, *acmeProblem, error) {
	cfg, err := loadACMEConfig(ctx, req.Storage)
	if err != nil {
		return nil, nil, err
	}
	if !cfg.Enabled {
		return nil, problem(http.StatusForbidden, "unauthorized", "ACME is disabled on this mount"), nil
	}
	cl, err := loadCluster(ctx, req.Storage)
	if err != nil {
		return nil, nil, err
	}
	if cl.Path == "" {
		return nil, problem(http.StatusInternalServerError, "serverInternal", "config/cluster path is not set"), nil
	}
	i := strings.Index(req.Path, "acme/")
	d := &acmeDir{cfg: cfg, prefix: req.Path[:i]}
	d.base = cl.Path + "/" + d.prefix + "acme/"
	roleName := p["role"]
	if roleName == "" {
		switch pol := cfg.DefaultDirectoryPolicy; {
		case pol == "forbid":
			return nil, problem(http.StatusForbidden, "unauthorized", "this directory is disabled; use a role's directory"), nil
		case strings.HasPrefix(pol, "role:"):
			roleName = strings.TrimPrefix(pol, "role:")
		}
	}
	if roleName != "" {
		if !slices.Contains(cfg.AllowedRoles, "*") && !slices.Contains(cfg.AllowedRoles, roleName) {
			return nil, problem(http.StatusForbidden, "unauthorized", "role not allowed for ACME"), nil
		}
		r, err := loadRole(ctx, req.Storage, roleName)
		if err != nil {
			return nil, nil, err
		}
		if r == nil {
			return nil, problem(http.StatusNotFound, "malformed", "unknown role"), nil
		}
		if r.NoStore {
			return nil, problem(http.StatusForbidden, "unauthorized", "a role used by ACME must store its certificates (no_store=false)"), nil
		}
		d.role = r
	} else {
		// sign-verbatim: any DNS name, but only the names the order
		// validated, and nothing else from the CSR.
		r := newRole()
		r.AllowAnyName, r.EnforceHostnames, r.KeyType, r.AllowIPSANs = true, true, "any", true
		d.role = r
	}
	d.role.RequireCN = false
	if !cfg.AllowRoleExtKeyUsage {
		d.role.ServerFlag, d.role.ClientFlag, d.role.CodeSigningFlag, d.role.EmailProtection = true, false, false, false
		d.role.ExtKeyUsage, d.role.ExtKeyUsageOIDs = nil, nil
	}
	ref := d.role.IssuerRef
	if v := p["ref"]; v != "" {
		ref = v
	}
	if ref == "" {
		ref = "default"
	}
	iss, err := resolveIssuer(ctx, req.Storage, ref)
	if err != nil {
		return nil, nil, err
	}
	if iss == nil {
		return nil, problem(http.StatusNotFound, "malformed", "unknown issuer"), nil
	}
	if !slices.Contains(cfg.AllowedIssuers, "*") && !slices.Contains(cfg.AllowedIssuers, iss.ID) &&
		(iss.Name == "" || !slices.Contains(cfg.AllowedIssuers, iss.Name)) {
		return nil, problem(http.StatusForbidden, "unauthorized", "issuer not allowed for ACME"), nil
	}
	d.issuer = iss.ID
	return d, nil, nil
}

// acmeJSON writes v as JSON with a fresh nonce and the directory's index
// link (acmeRaw, acmeProblem: the same for other bodies and problems).
func (b *backend) acmeJSON(d *acmeDir, status int, v any, h http.Header) *logical.Response {
	body, err := json.Marshal(v)
	if err != nil {
		body = []byte(`{}`)
	}
	return b.acmeRaw(d, status, "application/json", body, h)
}

func (b *backend) acmeRaw(d *acmeDir, status int, ct string, body []byte, h http.Header) *logical.Response {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Replay-Nonce", b.acme.newNonce(b.now()))
	if d != nil {
		h.Add("Link", `<`+d.base+`directory>;rel="index"`)
	}
	return &logical.Response{Status: status, Raw: body, ContentType: ct, Headers: h}
}

func (b *backend) acmeProblem(d *acmeDir, p *acmeProblem) *logical.Response {
	body, _ := json.Marshal(p)
	return b.acmeRaw(d, p.Status, "application/problem+json", body, nil)
}

// acmeHandler is an ACME POST handler, called after the JWS is verified.
type acmeHandler func(ctx context.Context, c *acmeCtx, p logical.Params) (*logical.Response, error)

// serveJWS resolves the directory, reads and verifies the JWS (nonce,
// URL, key), and calls h. With jwkOK the request may carry its key (new
// account, revocation by certificate key); otherwise it names its
// account by kid.
func (b *backend) serveJWS(ctx context.Context, req *logical.Request, p logical.Params, jwkOK bool, h acmeHandler) (*logical.Response, error) {
	d, prob, err := b.resolveDir(ctx, req, p)
	if err != nil {
		return nil, err
	}
	if prob != nil {
		return b.acmeProblem(d, prob), nil
	}
	if req.Body == nil {
		return b.acmeProblem(d, problem(http.StatusUnsupportedMediaType, "malformed", "ACME requests must be application/jose+json")), nil
	}
	body, err := readBody(req.Body, maxJWSBody)
	if err != nil {
		return b.acmeProblem(d, problem(http.StatusRequestEntityTooLarge, "malformed", "request body too large")), nil
	}
	j, err := parseJWS(body, acmeAlgs)
	if err != nil {
		return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "malformed JWS")), nil
	}
	if !b.acme.useNonce(j.nonce, b.now()) {
		return b.acmeProblem(d, problem(http.StatusBadRequest, "badNonce", "unknown, expired or reused nonce")), nil
	}
	cl, err := loadCluster(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if j.url != cl.Path+"/"+req.Path {
		return b.acmeProblem(d, problem(http.StatusUnauthorized, "unauthorized", "the JWS url does not match the request")), nil
	}
	c := &acmeCtx{b: b, req: req, dir: d}
	key := j.jwk
	if j.kid != "" {
		id, ok := strings.CutPrefix(j.kid, d.base+"account/")
		if !ok || strings.Contains(id, "/") {
			return b.acmeProblem(d, problem(http.StatusUnauthorized, "accountDoesNotExist", "unknown account")), nil
		}
		acct, err := loadACME[acmeAccount](ctx, req.Storage, "acme/accounts/"+id)
		if err != nil {
			return nil, err
		}
		if acct == nil || acct.Directory != d.prefix {
			// An account belongs to the directory that created it (and
			// whose EAB key bound it): it cannot order through another.
			return b.acmeProblem(d, problem(http.StatusBadRequest, "accountDoesNotExist", "unknown account")), nil
		}
		if acct.Status != "valid" {
			return b.acmeProblem(d, problem(http.StatusUnauthorized, "unauthorized", "the account is deactivated")), nil
		}
		if d.cfg.EABPolicy == "always-required" && acct.EABID == "" {
			return b.acmeProblem(d, problem(http.StatusUnauthorized, "externalAccountRequired", "this account has no external account binding")), nil
		}
		key = &jose.JSONWebKey{}
		if err := key.UnmarshalJSON(acct.Key); err != nil {
			return nil, fmt.Errorf("acme account %s: stored key: %w", id, err)
		}
		c.account = acct
	} else if !jwkOK {
		return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "this request must name its account by kid")), nil
	}
	if c.payload, err = j.verify(key); err != nil {
		return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "JWS signature does not verify")), nil
	}
	limitKey := "key:" + mustThumb(key)
	if c.account != nil {
		limitKey = "account:" + c.account.ID
	}
	if !b.acme.allow(limitKey, b.now()) {
		resp := b.acmeProblem(d, problem(http.StatusTooManyRequests, "rateLimited", "too many requests for this account"))
		resp.Headers.Set("Retry-After", "1")
		return resp, nil
	}
	if c.account == nil {
		c.jwk = key
	}
	return h(ctx, c, p)
}

const maxJWSBody = 64 << 10

// keyIndex is the storage key finding an account by its key within a
// directory.
func keyIndex(prefix, thumb string) string {
	return "acme/account-keys/" + b64([]byte(prefix)) + "." + thumb
}

func mustThumb(k *jose.JSONWebKey) string {
	t, err := thumbprint(k)
	if err != nil {
		return ""
	}
	return t
}

func loadACME[T any](ctx context.Context, s logical.Storage, key string) (*T, error) {
	var v T
	ok, err := logical.GetJSON(ctx, s, key, &v)
	if err != nil || !ok {
		return nil, err
	}
	return &v, nil
}

// postAsGet reports whether the payload is empty, as a POST-as-GET's is.
func (c *acmeCtx) postAsGet() bool { return len(c.payload) == 0 }

func (c *acmeCtx) decode(v any) *acmeProblem {
	if err := json.Unmarshal(c.payload, v); err != nil {
		return problem(http.StatusBadRequest, "malformed", "payload is not the expected JSON object")
	}
	return nil
}

func (b *backend) acmeDirectory(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	d, prob, err := b.resolveDir(ctx, req, p)
	if err != nil {
		return nil, err
	}
	if prob != nil {
		return b.acmeProblem(d, prob), nil
	}
	dir := map[string]any{
		"newNonce": d.base + "new-nonce", "newAccount": d.base + "new-account", "newOrder": d.base + "new-order",
		"revokeCert": d.base + "revoke-cert", "keyChange": d.base + "key-change",
		"meta": map[string]any{"externalAccountRequired": d.cfg.EABPolicy != "not-required"},
	}
	body, _ := json.Marshal(dir)
	return &logical.Response{Status: http.StatusOK, Raw: body, ContentType: "application/json"}, nil
}

func (b *backend) acmeNewNonce(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	d, prob, err := b.resolveDir(ctx, req, p)
	if err != nil {
		return nil, err
	}
	if prob != nil {
		return b.acmeProblem(d, prob), nil
	}
	return b.acmeRaw(d, http.StatusOK, "application/json", []byte{}, nil), nil
}
