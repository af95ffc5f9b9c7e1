// Package api is the public Go client for Keyward's HTTP API, which follows
// Vault's shapes. It imports nothing from Keyward's internal packages, so
// programs outside this module can use it. A Client never logs; errors name
// the method, path and status, never request or response bodies.
package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultAddress is used when no address is configured.
const DefaultAddress = "https://127.0.0.1:8200"

// Config configures a Client.
type Config struct {
	// Address is the server's base URL, e.g. "https://keyward.example:8200".
	Address string
	// Token authenticates requests (X-Vault-Token). It never prints: a
	// Config may be logged or formatted whole.
	Token Token
	// CACert is a PEM file of CAs to trust; ClientCert/ClientKey a client
	// certificate for mutual TLS; SkipVerify disables verification (tests).
	CACert     string
	ClientCert string
	ClientKey  string
	SkipVerify bool
	// WrapTTL, when set (e.g. "5m"), asks the server to wrap every response
	// (X-Vault-Wrap-TTL) except those of sys/wrapping/* and the internal
	// mount probe.
	WrapTTL string
	// Timeout bounds each request, its body included (default 60s;
	// negative: no bound).
	Timeout time.Duration
	// HTTPClient, when set, is used as is.
	HTTPClient *http.Client
}

// ConfigFromEnv reads KEYWARD_ADDR, KEYWARD_TOKEN, KEYWARD_CACERT,
// KEYWARD_CLIENT_CERT, KEYWARD_CLIENT_KEY and KEYWARD_SKIP_VERIFY, falling
// back to the VAULT_* names. getenv is usually os.Getenv.
func ConfigFromEnv(getenv func(string) string) Config {
	get := func(name string) string {
		if v := getenv("KEYWARD_" + name); v != "" {
			return v
		}
		return getenv("VAULT_" + name)
	}
	cfg := Config{
		Address:    get("ADDR"),
		Token:      NewToken(get("TOKEN")),
		CACert:     get("CACERT"),
		ClientCert: get("CLIENT_CERT"),
		ClientKey:  get("CLIENT_KEY"),
	}
	cfg.WrapTTL = get("WRAP_TTL")
	switch strings.ToLower(get("SKIP_VERIFY")) {
	case "1", "true", "yes":
		cfg.SkipVerify = true
	}
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	return cfg
}

// Client talks to one Keyward (or Vault-compatible) server. It is safe for
// concurrent use.
type Client struct {
	addr *url.URL
	http *http.Client

	mu      sync.RWMutex
	token   Token // a Client printed with %+v shows no token
	wrapTTL string
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	u, err := url.Parse(cfg.Address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("api: address %q must be an http or https URL", cfg.Address)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.SkipVerify} //nolint:gosec // opt-in for tests
		if cfg.CACert != "" {
			pem, err := os.ReadFile(cfg.CACert)
			if err != nil {
				return nil, fmt.Errorf("api: read CA certificate: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("api: no certificates in %s", cfg.CACert)
			}
			tlsCfg.RootCAs = pool
		}
		if cfg.ClientCert != "" || cfg.ClientKey != "" {
			cert, err := tls.LoadX509KeyPair(cfg.ClientCert, cfg.ClientKey)
			if err != nil {
				return nil, fmt.Errorf("api: load client certificate: %w", err)
			}
			tlsCfg.Certificates = []tls.Certificate{cert}
		}
		timeout := cfg.Timeout
		if timeout == 0 {
			timeout = 60 * time.Second
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tlsCfg
		tr.MaxIdleConnsPerHost = 64
		hc = &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // never resend a token to another host
		}}
	}
	return &Client{addr: u, http: hc, token: cfg.Token, wrapTTL: cfg.WrapTTL}, nil
}

// Address returns the server address.
func (c *Client) Address() string { return c.addr.String() }

// Token returns the client's token, revealed: it is for sending, never for
// printing.
func (c *Client) Token() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token.Reveal()
}

// SetToken replaces the client's token.
func (c *Client) SetToken(t string) {
	c.mu.Lock()
	c.token = NewToken(t)
	c.mu.Unlock()
}

// SetWrapTTL sets or (with "") clears response wrapping for later requests.
func (c *Client) SetWrapTTL(ttl string) {
	c.mu.Lock()
	c.wrapTTL = ttl
	c.mu.Unlock()
}

func (c *Client) wrapFor(path string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p := strings.TrimPrefix(path, "/")
	if c.wrapTTL == "" || strings.HasPrefix(p, "sys/wrapping/") || strings.HasPrefix(p, "sys/internal/ui/") {
		return ""
	}
	return c.wrapTTL
}

// ResponseError is a non-2xx answer. Errors holds the server's messages.
type ResponseError struct {
	Method     string
	Path       string
	StatusCode int
	Errors     []string
}

func (e *ResponseError) Error() string {
	msg := strings.Join(e.Errors, "; ")
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("%s %s: %d: %s", e.Method, e.Path, e.StatusCode, msg)
}

// IsStatus reports whether err is a ResponseError with the given status.
func IsStatus(err error, code int) bool {
	var re *ResponseError
	return errors.As(err, &re) && re.StatusCode == code
}

// Secret is the response envelope.
type Secret struct {
	RequestID     string         `json:"request_id"`
	LeaseID       string         `json:"lease_id"`
	LeaseDuration int            `json:"lease_duration"`
	Renewable     bool           `json:"renewable"`
	Data          map[string]any `json:"data"`
	Warnings      []string       `json:"warnings"`
	Auth          *SecretAuth    `json:"auth"`
	WrapInfo      *WrapInfo      `json:"wrap_info"`
	MountType     string         `json:"mount_type,omitempty"`
}

// SecretAuth is the auth block of a login or token creation.
type SecretAuth struct {
	ClientToken   string            `json:"client_token"`
	Accessor      string            `json:"accessor"`
	Policies      []string          `json:"policies"`
	TokenPolicies []string          `json:"token_policies"`
	Metadata      map[string]string `json:"metadata"`
	LeaseDuration int               `json:"lease_duration"`
	Renewable     bool              `json:"renewable"`
	EntityID      string            `json:"entity_id"`
	TokenType     string            `json:"token_type"`
	Orphan        bool              `json:"orphan"`
	NumUses       int               `json:"num_uses"`
}

// WrapInfo describes a wrapped response.
type WrapInfo struct {
	Token           string    `json:"token"`
	Accessor        string    `json:"accessor"`
	TTL             int       `json:"ttl"`
	CreationTime    time.Time `json:"creation_time"`
	CreationPath    string    `json:"creation_path"`
	WrappedAccessor string    `json:"wrapped_accessor"`
}

// Request is one raw API call.
type Request struct {
	Method  string
	Path    string // relative to /v1/, e.g. "secret/data/app"
	Query   url.Values
	Body    any // JSON-encoded unless it is an io.Reader
	Headers http.Header
	// NoToken sends the request without the client's token.
	NoToken bool
}

// Do sends r and decodes a JSON body into out (if non-nil). A 404 with a
// body is decoded too, and reported as a ResponseError only when the body
// has "errors". An out that is an io.Writer receives a 2xx body as it
// arrives, unbounded (a streamed backup). It returns the HTTP status.
func (c *Client) Do(ctx context.Context, r *Request, out any) (int, error) {
	u := *c.addr
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/" + strings.TrimPrefix(r.Path, "/")
	u.RawQuery = r.Query.Encode()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case io.Reader:
		body = b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return 0, fmt.Errorf("%s %s: encode body: %w", r.Method, r.Path, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", r.Method, r.Path, err)
	}
	for k, v := range r.Headers {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Vault-Request", "true")
	if ttl := c.wrapFor(r.Path); ttl != "" && req.Header.Get("X-Vault-Wrap-TTL") == "" {
		req.Header.Set("X-Vault-Wrap-TTL", ttl)
	}
	if tok := c.Token(); tok != "" && !r.NoToken {
		req.Header.Set("X-Vault-Token", tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error includes the URL, which holds no secret.
		return 0, fmt.Errorf("%s %s: %w", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	if w, ok := out.(io.Writer); ok && resp.StatusCode < 300 {
		if _, err := io.Copy(w, resp.Body); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: read response: %w", r.Method, r.Path, err)
		}
		return resp.StatusCode, nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read response: %w", r.Method, r.Path, err)
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Errors []string `json:"errors"`
		}
		_ = json.Unmarshal(raw, &e)
		if resp.StatusCode == http.StatusNotFound && len(e.Errors) == 0 && len(bytes.TrimSpace(raw)) > 0 && out != nil {
			// Vault returns 404 with data for a deleted KV version.
			if err := json.Unmarshal(raw, out); err == nil {
				return resp.StatusCode, nil
			}
		}
		return resp.StatusCode, &ResponseError{Method: r.Method, Path: r.Path, StatusCode: resp.StatusCode, Errors: e.Errors}
	}
	if out != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode response: %w", r.Method, r.Path, err)
		}
	}
	return resp.StatusCode, nil
}

// secret sends r and returns the envelope, or nil for 204 and for a 404
// without data.
func (c *Client) secret(ctx context.Context, r *Request) (*Secret, error) {
	var s Secret
	status, err := c.Do(ctx, r, &s)
	if err != nil {
		if status == http.StatusNotFound && r.Method != http.MethodPut && r.Method != http.MethodPost {
			var re *ResponseError
			if errors.As(err, &re) && len(re.Errors) == 0 {
				return nil, nil
			}
		}
		return nil, err
	}
	if status == http.StatusNoContent || (status == http.StatusNotFound && s.Data == nil) {
		return nil, nil
	}
	return &s, nil
}

// Read reads path. It returns nil, nil when nothing is there.
func (c *Client) Read(ctx context.Context, path string, query url.Values) (*Secret, error) {
	return c.secret(ctx, &Request{Method: http.MethodGet, Path: path, Query: query})
}

// List lists path; nil, nil when empty.
func (c *Client) List(ctx context.Context, path string) (*Secret, error) {
	return c.secret(ctx, &Request{Method: http.MethodGet, Path: path, Query: url.Values{"list": {"true"}}})
}

// Write writes data to path.
func (c *Client) Write(ctx context.Context, path string, data map[string]any) (*Secret, error) {
	return c.secret(ctx, &Request{Method: http.MethodPut, Path: path, Body: data})
}

// Patch sends a JSON merge patch to path.
func (c *Client) Patch(ctx context.Context, path string, data map[string]any) (*Secret, error) {
	return c.secret(ctx, &Request{Method: http.MethodPatch, Path: path, Body: data,
		Headers: http.Header{"Content-Type": {"application/merge-patch+json"}}})
}

// Delete deletes path.
func (c *Client) Delete(ctx context.Context, path string, query url.Values) (*Secret, error) {
	return c.secret(ctx, &Request{Method: http.MethodDelete, Path: path, Query: query})
}
