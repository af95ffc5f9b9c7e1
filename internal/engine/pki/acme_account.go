package pki

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/logical"
)

// acmeAccountJSON is the RFC 8555 account object.
func (b *backend) acmeAccountJSON(d *acmeDir, a *acmeAccount) map[string]any {
	return map[string]any{"status": a.Status, "contact": orEmpty(a.Contact), "orders": d.base + "account/" + a.ID + "/orders"}
}

// acmeNewAccount is new-account: it finds the account of the request's
// key, or creates one (bound to an EAB key where the policy says so).
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

// acmeAccountUpdate is account/KID: read, update contact, deactivate.
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
