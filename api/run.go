package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// TokenInfo is what auth/token/lookup-self says about the client's own
// token. It holds no secret: the token's id is deliberately not kept.
type TokenInfo struct {
	Accessor  string
	TTL       time.Duration // remaining; 0 for a token that never expires
	Renewable bool
	Policies  []string
	Type      string // "service" or "batch"
}

// LookupSelf reads auth/token/lookup-self.
func (c *Client) LookupSelf(ctx context.Context) (*TokenInfo, error) {
	var s struct {
		Data struct {
			Accessor  string      `json:"accessor"`
			TTL       json.Number `json:"ttl"`
			Renewable bool        `json:"renewable"`
			Policies  []string    `json:"policies"`
			Type      string      `json:"type"`
		} `json:"data"`
	}
	if _, err := c.Do(ctx, &Request{Method: http.MethodGet, Path: "auth/token/lookup-self"}, &s); err != nil {
		return nil, err
	}
	ttl, _ := s.Data.TTL.Int64()
	return &TokenInfo{Accessor: s.Data.Accessor, TTL: time.Duration(ttl) * time.Second,
		Renewable: s.Data.Renewable, Policies: s.Data.Policies, Type: s.Data.Type}, nil
}

// RenewSelf renews the client's own token (auth/token/renew-self) by
// increment (0: the server's default) and returns its new TTL.
func (c *Client) RenewSelf(ctx context.Context, increment time.Duration) (time.Duration, error) {
	body := map[string]any{}
	if increment > 0 {
		body["increment"] = int64(increment / time.Second)
	}
	var s Secret
	if _, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "auth/token/renew-self", Body: body}, &s); err != nil {
		return 0, err
	}
	if s.Auth == nil {
		return 0, nil
	}
	return time.Duration(s.Auth.LeaseDuration) * time.Second, nil
}

// RevokeSelf revokes the client's own token (auth/token/revoke-self) and
// its children. The client's token is useless afterwards.
func (c *Client) RevokeSelf(ctx context.Context) error {
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "auth/token/revoke-self"}, nil)
	return err
}

// RenewLease renews a lease (sys/leases/renew) by increment (0: the
// server's default) and returns its new duration.
func (c *Client) RenewLease(ctx context.Context, leaseID string, increment time.Duration) (time.Duration, error) {
	body := map[string]any{"lease_id": leaseID}
	if increment > 0 {
		body["increment"] = int64(increment / time.Second)
	}
	var s Secret
	if _, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/leases/renew", Body: body}, &s); err != nil {
		return 0, err
	}
	return time.Duration(s.LeaseDuration) * time.Second, nil
}

// RevokeLease revokes a lease (sys/leases/revoke).
func (c *Client) RevokeLease(ctx context.Context, leaseID string) error {
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/leases/revoke", Body: map[string]any{"lease_id": leaseID}}, nil)
	return err
}
