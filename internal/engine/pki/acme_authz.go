package pki

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/logical"
)

// authzJSON is the RFC 8555 authorization object.
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
