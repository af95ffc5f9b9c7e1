package pki

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

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

func (b *backend) acmeAccountJSON(d *acmeDir, a *acmeAccount) map[string]any {
	return map[string]any{"status": a.Status, "contact": orEmpty(a.Contact), "orders": d.base + "account/" + a.ID + "/orders"}
}

func (b *backend) acmeNewAccount(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, true, func(ctx context.Context, c *acmeCtx, _ logical.Params) (*logical.Response, error) {
		d := c.dir
		if c.account != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "new-account must carry a jwk, not a kid")), nil
		}
		var in struct {
			Contact              []string        `json:"contact"`
			TermsOfServiceAgreed bool            `json:"termsOfServiceAgreed"`
			OnlyReturnExisting   bool            `json:"onlyReturnExisting"`
			ExternalAccount      json.RawMessage `json:"externalAccountBinding"`
		}
		if prob := c.decode(&in); prob != nil {
			return b.acmeProblem(d, prob), nil
		}
		thumb, err := thumbprint(c.jwk)
		if err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "badPublicKey", "unusable account key")), nil
		}
		b.acmeMu.Lock()
		defer b.acmeMu.Unlock()
		var existing struct{ ID string }
		if ok, err := logical.GetJSON(ctx, req.Storage, keyIndex(d.prefix, thumb), &existing); err != nil {
			return nil, err
		} else if ok {
			a, err := loadACME[acmeAccount](ctx, req.Storage, "acme/accounts/"+existing.ID)
			if err != nil {
				return nil, err
			}
			if a != nil {
				h := http.Header{"Location": {d.base + "account/" + a.ID}}
				return b.acmeJSON(d, http.StatusOK, b.acmeAccountJSON(d, a), h), nil
			}
		}
		if in.OnlyReturnExisting {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "accountDoesNotExist", "no account has this key")), nil
		}
		if prob := checkContacts(in.Contact); prob != nil {
			return b.acmeProblem(d, prob), nil
		}
		keyJSON, err := c.jwk.MarshalJSON()
		if err != nil {
			return nil, err
		}
		a := &acmeAccount{ID: randomID(), Key: keyJSON, Thumbprint: thumb, Contact: in.Contact, Status: "valid",
			CreatedAt: b.now().UTC(), Directory: d.prefix}
		if len(in.ExternalAccount) > 0 || d.cfg.EABPolicy != "not-required" {
			if len(in.ExternalAccount) == 0 {
				return b.acmeProblem(d, problem(http.StatusUnauthorized, "externalAccountRequired", "this server requires an external account binding")), nil
			}
			eabID, prob, err := b.bindEAB(ctx, c, in.ExternalAccount, keyJSON)
			if err != nil {
				return nil, err
			}
			if prob != nil {
				return b.acmeProblem(d, prob), nil
			}
			a.EABID = eabID
		}
		if err := logical.PutJSON(ctx, req.Storage, "acme/accounts/"+a.ID, a); err != nil {
			return nil, err
		}
		if err := logical.PutJSON(ctx, req.Storage, keyIndex(d.prefix, thumb), map[string]string{"ID": a.ID}); err != nil {
			return nil, err
		}
		h := http.Header{"Location": {d.base + "account/" + a.ID}}
		return b.acmeJSON(d, http.StatusCreated, b.acmeAccountJSON(d, a), h), nil
	})
}

// checkContacts accepts only mailto: URLs, as Vault does.
func checkContacts(cs []string) *acmeProblem {
	if len(cs) > 10 {
		return problem(http.StatusBadRequest, "invalidContact", "too many contacts")
	}
	for _, c := range cs {
		addr, ok := strings.CutPrefix(c, "mailto:")
		if !ok || len(c) > 254 || strings.ContainsAny(addr, ",?\r\n ") || !strings.Contains(addr, "@") {
			return problem(http.StatusBadRequest, "unsupportedContact", "contacts must be mailto: addresses")
		}
	}
	return nil
}

func (b *backend) acmeAccountUpdate(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, false, func(ctx context.Context, c *acmeCtx, p logical.Params) (*logical.Response, error) {
		d, a := c.dir, c.account
		if a.ID != p["kid"] {
			return b.acmeProblem(d, problem(http.StatusUnauthorized, "unauthorized", "the JWS is signed by another account")), nil
		}
		h := http.Header{"Location": {d.base + "account/" + a.ID}}
		if c.postAsGet() {
			return b.acmeJSON(d, http.StatusOK, b.acmeAccountJSON(d, a), h), nil
		}
		var in struct {
			Contact []string `json:"contact"`
			Status  string   `json:"status"`
		}
		if prob := c.decode(&in); prob != nil {
			return b.acmeProblem(d, prob), nil
		}
		b.acmeMu.Lock()
		defer b.acmeMu.Unlock()
		switch in.Status {
		case "":
		case "deactivated":
			a.Status = "deactivated"
		default:
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "status may only become deactivated")), nil
		}
		if in.Contact != nil {
			if prob := checkContacts(in.Contact); prob != nil {
				return b.acmeProblem(d, prob), nil
			}
			a.Contact = in.Contact
		}
		if err := logical.PutJSON(ctx, req.Storage, "acme/accounts/"+a.ID, a); err != nil {
			return nil, err
		}
		return b.acmeJSON(d, http.StatusOK, b.acmeAccountJSON(d, a), h), nil
	})
}

// acmeAccountOrders lists the account's orders of this directory that
// are not yet invalid (RFC 8555 section 7.1.2.1).
func (b *backend) acmeAccountOrders(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, false, func(ctx context.Context, c *acmeCtx, p logical.Params) (*logical.Response, error) {
		if c.account.ID != p["kid"] {
			return b.acmeProblem(c.dir, problem(http.StatusUnauthorized, "unauthorized", "the JWS is signed by another account")), nil
		}
		ids, err := req.Storage.List(ctx, "acme/account-orders/"+c.account.ID+"/")
		if err != nil {
			return nil, err
		}
		urls := []string{}
		for _, id := range ids {
			o, err := b.loadOrder(ctx, c, id)
			if err != nil {
				return nil, err
			}
			if o != nil && o.Status != "invalid" {
				urls = append(urls, c.dir.base+"order/"+o.ID)
			}
		}
		return b.acmeJSON(c.dir, http.StatusOK, map[string]any{"orders": urls}, nil), nil
	})
}

func (b *backend) acmeNewOrder(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, false, func(ctx context.Context, c *acmeCtx, _ logical.Params) (*logical.Response, error) {
		d := c.dir
		var in struct {
			Identifiers []acmeIdentifier `json:"identifiers"`
			NotBefore   string           `json:"notBefore"`
			NotAfter    string           `json:"notAfter"`
		}
		if prob := c.decode(&in); prob != nil {
			return b.acmeProblem(d, prob), nil
		}
		if in.NotBefore != "" || in.NotAfter != "" {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "notBefore and notAfter are not supported")), nil
		}
		if len(in.Identifiers) == 0 || len(in.Identifiers) > maxOrderIDs {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", fmt.Sprintf("an order needs 1 to %d identifiers", maxOrderIDs))), nil
		}
		pol := d.role.policy()
		now := b.now().UTC()
		o := &acmeOrder{ID: randomID(), AccountID: c.account.ID, Directory: d.prefix, Status: "pending", Expires: now.Add(orderTTL)}
		var authzs []*acmeAuthz
		for _, id := range in.Identifiers {
			var name string
			switch id.Type {
			case "dns":
				var err error
				if name, err = pol.checkHost(id.Value); err != nil {
					return b.acmeProblem(d, problem(http.StatusBadRequest, "rejectedIdentifier", err.Error())), nil
				}
			case "ip": // RFC 8738
				a, err := pol.checkIP(id.Value)
				if err != nil {
					return b.acmeProblem(d, problem(http.StatusBadRequest, "rejectedIdentifier", err.Error())), nil
				}
				name = a.String()
			default:
				return b.acmeProblem(d, problem(http.StatusBadRequest, "unsupportedIdentifier", "only dns and ip identifiers are supported")), nil
			}
			if slices.ContainsFunc(o.Identifiers, func(x acmeIdentifier) bool { return x.Type == id.Type && x.Value == name }) {
				continue
			}
			o.Identifiers = append(o.Identifiers, acmeIdentifier{Type: id.Type, Value: name})
			az := &acmeAuthz{ID: randomID(), AccountID: c.account.ID, Directory: d.prefix, Status: "pending", Expires: o.Expires}
			base, wild := strings.CutPrefix(name, "*.")
			az.Identifier, az.Wildcard = acmeIdentifier{Type: id.Type, Value: base}, wild
			types := []string{"http-01", "dns-01", "tls-alpn-01"}
			switch {
			case wild:
				types = []string{"dns-01"} // RFC 8555 section 7.1.3
			case id.Type == "ip":
				types = []string{"http-01"} // RFC 8738 section 7 (tls-alpn-01 for IPs is not offered here)
			}
			for _, t := range types {
				az.Challenges = append(az.Challenges, acmeChallenge{Type: t, Token: randomID(), Status: "pending"})
			}
			authzs = append(authzs, az)
			o.AuthzIDs = append(o.AuthzIDs, az.ID)
		}
		for _, az := range authzs {
			if err := logical.PutJSON(ctx, req.Storage, "acme/authz/"+az.ID, az); err != nil {
				return nil, err
			}
		}
		if err := logical.PutJSON(ctx, req.Storage, "acme/orders/"+o.ID, o); err != nil {
			return nil, err
		}
		if err := logical.PutJSON(ctx, req.Storage, "acme/account-orders/"+c.account.ID+"/"+o.ID, struct{}{}); err != nil {
			return nil, err
		}
		h := http.Header{"Location": {d.base + "order/" + o.ID}}
		return b.acmeJSON(d, http.StatusCreated, b.orderJSON(d, o), h), nil
	})
}

func (b *backend) orderJSON(d *acmeDir, o *acmeOrder) map[string]any {
	authz := make([]string, len(o.AuthzIDs))
	for i, id := range o.AuthzIDs {
		authz[i] = d.base + "authorization/" + id
	}
	m := map[string]any{"status": o.Status, "expires": o.Expires.Format(time.RFC3339), "identifiers": o.Identifiers,
		"authorizations": authz, "finalize": d.base + "order/" + o.ID + "/finalize"}
	if o.CertSerial != "" {
		m["certificate"] = d.base + "order/" + o.ID + "/cert"
	}
	if o.Error != nil {
		m["error"] = o.Error
	}
	return m
}

// loadOrder loads the account's order id as seen through d, bringing its
// status up to date with its authorizations.
func (b *backend) loadOrder(ctx context.Context, c *acmeCtx, id string) (*acmeOrder, error) {
	o, err := loadACME[acmeOrder](ctx, c.req.Storage, "acme/orders/"+id)
	if err != nil || o == nil || o.AccountID != c.account.ID || o.Directory != c.dir.prefix {
		return nil, err
	}
	if o.Status != "pending" {
		return o, nil
	}
	if b.now().After(o.Expires) {
		o.Status = "invalid"
		return o, nil
	}
	ready := true
	for _, aid := range o.AuthzIDs {
		az, err := loadACME[acmeAuthz](ctx, c.req.Storage, "acme/authz/"+aid)
		if err != nil {
			return nil, err
		}
		if az == nil || az.Status == "invalid" || az.Status == "deactivated" {
			o.Status = "invalid"
			o.Error = problem(http.StatusForbidden, "unauthorized", "an authorization of this order failed")
			return o, nil
		}
		if az.Status != "valid" {
			ready = false
		}
	}
	if ready {
		o.Status = "ready"
	}
	return o, nil
}

func (b *backend) acmeOrderRead(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, false, func(ctx context.Context, c *acmeCtx, p logical.Params) (*logical.Response, error) {
		o, err := b.loadOrder(ctx, c, p["id"])
		if err != nil {
			return nil, err
		}
		if o == nil {
			return b.acmeProblem(c.dir, problem(http.StatusNotFound, "malformed", "no such order")), nil
		}
		h := http.Header{"Location": {c.dir.base + "order/" + o.ID}}
		return b.acmeJSON(c.dir, http.StatusOK, b.orderJSON(c.dir, o), h), nil
	})
}

func (b *backend) acmeFinalize(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, false, func(ctx context.Context, c *acmeCtx, p logical.Params) (*logical.Response, error) {
		d := c.dir
		var in struct {
			CSR string `json:"csr"`
		}
		if prob := c.decode(&in); prob != nil {
			return b.acmeProblem(d, prob), nil
		}
		b.acmeMu.Lock()
		defer b.acmeMu.Unlock()
		o, err := b.loadOrder(ctx, c, p["id"])
		if err != nil {
			return nil, err
		}
		if o == nil {
			return b.acmeProblem(d, problem(http.StatusNotFound, "malformed", "no such order")), nil
		}
		if o.Status != "ready" {
			return b.acmeProblem(d, problem(http.StatusForbidden, "orderNotReady", "the order is "+o.Status)), nil
		}
		der, err := base64.RawURLEncoding.DecodeString(in.CSR)
		if err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "badCSR", "csr is not base64url DER")), nil
		}
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil || csr.CheckSignature() != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "badCSR", "csr does not parse or its signature does not verify")), nil
		}
		if prob := csrMatchesOrder(csr, o); prob != nil {
			return b.acmeProblem(d, prob), nil
		}
		if err := checkCSRKey(d.role, csr.PublicKey); err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "badCSR", err.Error())), nil
		}
		var names, ips []string
		for _, id := range o.Identifiers {
			if id.Type == "ip" {
				ips = append(ips, id.Value)
			} else {
				names = append(names, id.Value)
			}
		}
		cn := "" // an IP common name is dropped: the IP SAN carries it
		if _, err := netip.ParseAddr(csr.Subject.CommonName); err != nil && csr.Subject.CommonName != "" {
			cn, _ = canonicalHost(csr.Subject.CommonName, true)
		}
		data := map[string]any{"common_name": cn, "alt_names": names, "ip_sans": ips}
		spec := &certSpec{Pub: csr.PublicKey}
		// The role's own name checks, exactly as sign/ROLE applies them.
		ireq := *req
		ireq.Data = map[string]any{}
		if err := b.leafSpec(ctx, &ireq, d.role, spec, data); err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "rejectedIdentifier", errMessage(err))), nil
		}
		if max := time.Duration(acmeCertDays) * 24 * time.Hour; d.role.MaxTTL == 0 || d.role.MaxTTL > max {
			r := *d.role
			r.MaxTTL = max
			if r.TTL > max {
				r.TTL = max
			}
			d.role = &r
		}
		resp, err := b.finish(ctx, &ireq, d.role, spec, nil, d.issuer, data)
		if err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "badCSR", errMessage(err))), nil
		}
		serial, _ := resp.Data["serial_number"].(string)
		if err := logical.PutJSON(ctx, req.Storage, "acme/cert-owners/"+storageSerial(serial), acmeCertOwner{AccountID: c.account.ID}); err != nil {
			return nil, err
		}
		o.Status, o.CertSerial = "valid", serial
		if err := logical.PutJSON(ctx, req.Storage, "acme/orders/"+o.ID, o); err != nil {
			return nil, err
		}
		h := http.Header{"Location": {d.base + "order/" + o.ID}}
		return b.acmeJSON(d, http.StatusOK, b.orderJSON(d, o), h), nil
	})
}

func errMessage(err error) string {
	var ce *logical.CodedError
	if errors.As(err, &ce) {
		return err.Error()
	}
	return "the certificate could not be issued"
}

// csrMatchesOrder holds the CSR to exactly the order's names: every DNS
// name and IP address (and the common name, if any) is an identifier of
// the order, every identifier is in the CSR, and it asks for no other kind
// of name.
func csrMatchesOrder(csr *x509.CertificateRequest, o *acmeOrder) *acmeProblem {
	if len(csr.EmailAddresses)+len(csr.URIs) > 0 || len(otherSANs(csr.Extensions)) > 0 {
		return problem(http.StatusBadRequest, "badCSR", "the CSR asks for names other than DNS names and IP addresses")
	}
	want := map[string]bool{}
	wantIP := map[netip.Addr]bool{}
	for _, id := range o.Identifiers {
		if id.Type == "ip" {
			wantIP[netip.MustParseAddr(id.Value)] = false
		} else {
			want[id.Value] = false
		}
	}
	for _, ip := range csr.IPAddresses {
		a, ok := netip.AddrFromSlice(ip)
		if _, in := wantIP[a.Unmap()]; !ok || !in {
			return problem(http.StatusBadRequest, "badCSR", fmt.Sprintf("the CSR names IP %s, which is not in the order", ip))
		}
		wantIP[a.Unmap()] = true
	}
	for a, seen := range wantIP {
		if !seen {
			return problem(http.StatusBadRequest, "badCSR", fmt.Sprintf("the CSR does not name IP %s from the order", a))
		}
	}
	check := func(n string) *acmeProblem {
		c, err := canonicalHost(n, true)
		if err != nil {
			return problem(http.StatusBadRequest, "badCSR", "the CSR has an invalid name")
		}
		if _, ok := want[c]; !ok {
			return problem(http.StatusBadRequest, "badCSR", fmt.Sprintf("the CSR names %q, which is not in the order", c))
		}
		want[c] = true
		return nil
	}
	for _, n := range csr.DNSNames {
		if p := check(n); p != nil {
			return p
		}
	}
	if cn := csr.Subject.CommonName; cn != "" {
		if a, err := netip.ParseAddr(cn); err == nil {
			if _, in := wantIP[a.Unmap()]; !in {
				return problem(http.StatusBadRequest, "badCSR", "the CSR's common name is an IP address not in the order")
			}
		} else if p := check(cn); p != nil {
			return p
		}
	}
	for n, seen := range want {
		if !seen {
			return problem(http.StatusBadRequest, "badCSR", fmt.Sprintf("the CSR does not name %q from the order", n))
		}
	}
	return nil
}

func (b *backend) acmeCert(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, false, func(ctx context.Context, c *acmeCtx, p logical.Params) (*logical.Response, error) {
		d := c.dir
		o, err := b.loadOrder(ctx, c, p["id"])
		if err != nil {
			return nil, err
		}
		if o == nil || o.CertSerial == "" {
			return b.acmeProblem(d, problem(http.StatusNotFound, "malformed", "no certificate for this order")), nil
		}
		cert, err := loadCert(ctx, req.Storage, o.CertSerial)
		if err != nil {
			return nil, err
		}
		if cert == nil {
			return b.acmeProblem(d, problem(http.StatusNotFound, "malformed", "the certificate is no longer stored")), nil
		}
		all, err := listIssuers(ctx, req.Storage)
		if err != nil {
			return nil, err
		}
		var sb strings.Builder
		sb.WriteString(certPEM(cert.Raw))
		if iss := issuerOf(cert, all); iss != nil {
			for _, s := range chain(iss, all) {
				sb.WriteString(strings.TrimSpace(s) + "\n")
			}
		}
		return b.acmeRaw(d, http.StatusOK, "application/pem-certificate-chain", []byte(sb.String()), nil), nil
	})
}

func (b *backend) authzJSON(d *acmeDir, az *acmeAuthz) map[string]any {
	chs := make([]map[string]any, len(az.Challenges))
	for i, ch := range az.Challenges {
		chs[i] = b.challengeJSON(d, az, ch)
	}
	m := map[string]any{"identifier": az.Identifier, "status": az.Status, "expires": az.Expires.Format(time.RFC3339), "challenges": chs}
	if az.Wildcard {
		m["wildcard"] = true
	}
	return m
}

func (b *backend) challengeJSON(d *acmeDir, az *acmeAuthz, ch acmeChallenge) map[string]any {
	m := map[string]any{"type": ch.Type, "url": d.base + "challenge/" + az.ID + "/" + ch.Type, "token": ch.Token, "status": ch.Status}
	if !ch.Validated.IsZero() {
		m["validated"] = ch.Validated.Format(time.RFC3339)
	}
	if ch.Error != nil {
		m["error"] = ch.Error
	}
	return m
}

func (b *backend) loadAuthz(ctx context.Context, c *acmeCtx, id string) (*acmeAuthz, error) {
	az, err := loadACME[acmeAuthz](ctx, c.req.Storage, "acme/authz/"+id)
	if err != nil || az == nil || az.AccountID != c.account.ID || az.Directory != c.dir.prefix {
		return nil, err
	}
	if az.Status == "pending" && b.now().After(az.Expires) {
		az.Status = "expired"
	}
	return az, nil
}

func (b *backend) acmeAuthzRead(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, false, func(ctx context.Context, c *acmeCtx, p logical.Params) (*logical.Response, error) {
		az, err := b.loadAuthz(ctx, c, p["id"])
		if err != nil {
			return nil, err
		}
		if az == nil {
			return b.acmeProblem(c.dir, problem(http.StatusNotFound, "malformed", "no such authorization")), nil
		}
		if !c.postAsGet() {
			var in struct {
				Status string `json:"status"`
			}
			if prob := c.decode(&in); prob != nil {
				return b.acmeProblem(c.dir, prob), nil
			}
			if in.Status != "deactivated" {
				return b.acmeProblem(c.dir, problem(http.StatusBadRequest, "malformed", "status may only become deactivated")), nil
			}
			az.Status = "deactivated"
			if err := logical.PutJSON(ctx, req.Storage, "acme/authz/"+az.ID, az); err != nil {
				return nil, err
			}
		}
		return b.acmeJSON(c.dir, http.StatusOK, b.authzJSON(c.dir, az), nil), nil
	})
}

// acmeChallenge validates a challenge when the client says it is ready.
// Validation runs within the request, bounded in time, so its result is
// in the response (RFC 8555 lets the server decide when to validate).
func (b *backend) acmeChallenge(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, false, func(ctx context.Context, c *acmeCtx, p logical.Params) (*logical.Response, error) {
		d := c.dir
		az, err := b.loadAuthz(ctx, c, p["id"])
		if err != nil {
			return nil, err
		}
		i := -1
		if az != nil {
			i = slices.IndexFunc(az.Challenges, func(ch acmeChallenge) bool { return ch.Type == p["type"] })
		}
		if i < 0 {
			return b.acmeProblem(d, problem(http.StatusNotFound, "malformed", "no such challenge")), nil
		}
		up := http.Header{"Link": {`<` + d.base + "authorization/" + az.ID + `>;rel="up"`}}
		if c.postAsGet() || az.Status != "pending" || az.Challenges[i].Status != "pending" {
			return b.acmeJSON(d, http.StatusOK, b.challengeJSON(d, az, az.Challenges[i]), up), nil
		}
		key := &jose.JSONWebKey{}
		if err := key.UnmarshalJSON(c.account.Key); err != nil {
			return nil, fmt.Errorf("acme account %s: stored key: %w", c.account.ID, err)
		}
		thumb, err := thumbprint(key)
		if err != nil {
			return nil, err
		}
		ch := &az.Challenges[i]
		keyAuth := ch.Token + "." + thumb
		if verr := b.validate(ctx, d.cfg, ch.Type, az.Identifier.Value, ch.Token, keyAuth); verr != nil {
			ch.Status, ch.Error = "invalid", verr
			az.Status = "invalid"
		} else {
			ch.Status, ch.Validated = "valid", b.now().UTC()
			az.Status = "valid"
		}
		b.acmeMu.Lock()
		err = logical.PutJSON(ctx, req.Storage, "acme/authz/"+az.ID, az)
		b.acmeMu.Unlock()
		if err != nil {
			return nil, err
		}
		return b.acmeJSON(d, http.StatusOK, b.challengeJSON(d, az, *ch), up), nil
	})
}

// acmeRevoke is revoke-cert: signed by the account that ordered the
// certificate, or by the certificate's own key (jwk).
func (b *backend) acmeRevoke(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, true, func(ctx context.Context, c *acmeCtx, _ logical.Params) (*logical.Response, error) {
		d := c.dir
		var in struct {
			Certificate string `json:"certificate"`
			Reason      int    `json:"reason"`
		}
		if prob := c.decode(&in); prob != nil {
			return b.acmeProblem(d, prob), nil
		}
		der, err := base64.RawURLEncoding.DecodeString(in.Certificate)
		if err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "certificate is not base64url DER")), nil
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "certificate does not parse")), nil
		}
		serial := formatSerial(cert.SerialNumber)
		stored, err := loadCert(ctx, req.Storage, serial)
		if err != nil {
			return nil, err
		}
		if stored == nil || !stored.Equal(cert) {
			return b.acmeProblem(d, problem(http.StatusNotFound, "malformed", "certificate not issued by this mount")), nil
		}
		if c.account != nil {
			owner, err := loadACME[acmeCertOwner](ctx, req.Storage, "acme/cert-owners/"+storageSerial(serial))
			if err != nil {
				return nil, err
			}
			if owner == nil || owner.AccountID != c.account.ID {
				return b.acmeProblem(d, problem(http.StatusForbidden, "unauthorized", "this account did not order the certificate")), nil
			}
		} else {
			certKey := jose.JSONWebKey{Key: cert.PublicKey}
			want, err1 := thumbprint(&certKey)
			got, err2 := thumbprint(c.jwk)
			if err1 != nil || err2 != nil || want != got {
				return b.acmeProblem(d, problem(http.StatusForbidden, "unauthorized", "the JWS is not signed by the certificate's key")), nil
			}
		}
		if rev, err := loadRevocation(ctx, req.Storage, serial); err != nil {
			return nil, err
		} else if rev != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "alreadyRevoked", "the certificate is already revoked")), nil
		}
		if _, err := b.revokeSerial(ctx, req.Storage, serial, nil); err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", errMessage(err))), nil
		}
		return b.acmeRaw(d, http.StatusOK, "application/json", []byte{}, nil), nil
	})
}

// acmeKeyChange is key-change (RFC 8555 section 7.3.5): the outer JWS by
// the account's current key carries an inner JWS by the new key.
func (b *backend) acmeKeyChange(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.serveJWS(ctx, req, p, false, func(ctx context.Context, c *acmeCtx, _ logical.Params) (*logical.Response, error) {
		d := c.dir
		inner, err := parseJWS(c.payload, acmeAlgs)
		if err != nil || inner.jwk == nil || inner.nonce != "" || inner.url != d.base+"key-change" {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "the inner JWS must carry the new jwk and the same url, and no nonce")), nil
		}
		payload, err := inner.verify(inner.jwk)
		if err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "the inner JWS does not verify")), nil
		}
		var in struct {
			Account string          `json:"account"`
			OldKey  json.RawMessage `json:"oldKey"`
		}
		if err := json.Unmarshal(payload, &in); err != nil || in.Account != d.base+"account/"+c.account.ID {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "the inner payload must name this account")), nil
		}
		var old jose.JSONWebKey
		if err := old.UnmarshalJSON(in.OldKey); err != nil || mustThumb(&old) != c.account.Thumbprint {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "malformed", "oldKey is not the account's key")), nil
		}
		newThumb, err := thumbprint(inner.jwk)
		if err != nil {
			return b.acmeProblem(d, problem(http.StatusBadRequest, "badPublicKey", "unusable new key")), nil
		}
		b.acmeMu.Lock()
		defer b.acmeMu.Unlock()
		var existing struct{ ID string }
		if ok, err := logical.GetJSON(ctx, req.Storage, keyIndex(d.prefix, newThumb), &existing); err != nil {
			return nil, err
		} else if ok {
			h := http.Header{"Location": {d.base + "account/" + existing.ID}}
			resp := b.acmeProblem(d, problem(http.StatusConflict, "malformed", "another account has this key"))
			resp.Headers.Set("Location", h.Get("Location"))
			return resp, nil
		}
		keyJSON, err := inner.jwk.MarshalJSON()
		if err != nil {
			return nil, err
		}
		a := c.account
		oldThumb := a.Thumbprint
		a.Key, a.Thumbprint = keyJSON, newThumb
		if err := logical.PutJSON(ctx, req.Storage, keyIndex(d.prefix, newThumb), map[string]string{"ID": a.ID}); err != nil {
			return nil, err
		}
		if err := logical.PutJSON(ctx, req.Storage, "acme/accounts/"+a.ID, a); err != nil {
			return nil, err
		}
		if err := req.Storage.Delete(ctx, keyIndex(d.prefix, oldThumb)); err != nil {
			return nil, err
		}
		return b.acmeJSON(d, http.StatusOK, b.acmeAccountJSON(d, a), nil), nil
	})
}
