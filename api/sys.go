package api

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// HealthResponse is sys/health.
type HealthResponse struct {
	Initialized   bool   `json:"initialized"`
	Sealed        bool   `json:"sealed"`
	Standby       bool   `json:"standby"`
	ServerTimeUTC int64  `json:"server_time_utc"`
	Version       string `json:"version"`
	ClusterName   string `json:"cluster_name"`
	ClusterID     string `json:"cluster_id"`
}

// Health reads sys/health, asking for 200 in every state so the body can
// be decoded.
func (c *Client) Health(ctx context.Context) (*HealthResponse, error) {
	var h HealthResponse
	q := url.Values{}
	for _, k := range []string{"uninitcode", "sealedcode", "standbycode", "activecode", "perfstandbyok"} {
		q.Set(k, "299")
	}
	_, err := c.Do(ctx, &Request{Method: http.MethodGet, Path: "sys/health", Query: q, NoToken: true}, &h)
	return &h, err
}

// SealStatus is sys/seal-status.
type SealStatus struct {
	Type        string `json:"type"`
	Initialized bool   `json:"initialized"`
	Sealed      bool   `json:"sealed"`
	T           int    `json:"t"`
	N           int    `json:"n"`
	Progress    int    `json:"progress"`
	Nonce       string `json:"nonce"`
	Version     string `json:"version"`
	ClusterName string `json:"cluster_name"`
	ClusterID   string `json:"cluster_id"`
	StorageType string `json:"storage_type"`
	// RecoverySeal is true under an auto seal (the operators hold
	// recovery keys); Migration while a seal migration waits for its keys;
	// AutoUnsealError says why an auto seal has not unsealed the server.
	RecoverySeal    bool   `json:"recovery_seal,omitempty"`
	Migration       bool   `json:"migration,omitempty"`
	AutoUnsealError string `json:"auto_unseal_error,omitempty"`
}

// SealStatus reads sys/seal-status.
func (c *Client) SealStatus(ctx context.Context) (*SealStatus, error) {
	var s SealStatus
	_, err := c.Do(ctx, &Request{Method: http.MethodGet, Path: "sys/seal-status", NoToken: true}, &s)
	return &s, err
}

// InitResponse is the answer of sys/init: shown once, then gone.
type InitResponse struct {
	Keys       []string `json:"keys"`
	KeysBase64 []string `json:"keys_base64"`
	RootToken  string   `json:"root_token"`
	// The recovery key shares, under an auto seal.
	RecoveryKeys       []string `json:"recovery_keys"`
	RecoveryKeysBase64 []string `json:"recovery_keys_base64"`
}

// InitRecovery initializes a server with an auto seal, splitting its
// recovery key into shares with threshold.
func (c *Client) InitRecovery(ctx context.Context, shares, threshold int) (*InitResponse, error) {
	var r InitResponse
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/init", NoToken: true,
		Body: map[string]any{"recovery_shares": shares, "recovery_threshold": threshold}}, &r)
	return &r, err
}

// Init initializes the server.
func (c *Client) Init(ctx context.Context, shares, threshold int) (*InitResponse, error) {
	var r InitResponse
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/init", NoToken: true,
		Body: map[string]any{"secret_shares": shares, "secret_threshold": threshold}}, &r)
	return &r, err
}

// Unseal submits one unseal share.
func (c *Client) Unseal(ctx context.Context, key string) (*SealStatus, error) {
	var s SealStatus
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/unseal", NoToken: true, Body: map[string]any{"key": key}}, &s)
	return &s, err
}

// UnsealMigrate submits one share of a seal migration (migrate=true): an
// unseal key when leaving Shamir, a recovery key when leaving an auto seal.
func (c *Client) UnsealMigrate(ctx context.Context, key string) (*SealStatus, error) {
	var s SealStatus
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/unseal", NoToken: true, Body: map[string]any{"key": key, "migrate": true}}, &s)
	return &s, err
}

// UnsealReset discards unseal progress; nonce must match the progress.
func (c *Client) UnsealReset(ctx context.Context, nonce string) (*SealStatus, error) {
	var s SealStatus
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/unseal", NoToken: true, Body: map[string]any{"reset": true, "nonce": nonce}}, &s)
	return &s, err
}

// Seal seals the server (needs sudo).
func (c *Client) Seal(ctx context.Context) error {
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/seal"}, nil)
	return err
}

// GenerateRootStatus is sys/generate-root/attempt and /update.
type GenerateRootStatus struct {
	Started      bool   `json:"started"`
	Nonce        string `json:"nonce"`
	Progress     int    `json:"progress"`
	Required     int    `json:"required"`
	Complete     bool   `json:"complete"`
	EncodedToken string `json:"encoded_token"`
	OTPLength    int    `json:"otp_length"`
	OTP          string `json:"otp"`
}

// GenerateRoot starts (start=true), reads, or with key submits a share of a
// root token generation.
func (c *Client) GenerateRootStart(ctx context.Context) (*GenerateRootStatus, error) {
	var s GenerateRootStatus
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/generate-root/attempt", NoToken: true, Body: map[string]any{}}, &s)
	return &s, err
}

// GenerateRootStatus reads the generation in progress.
func (c *Client) GenerateRootStatus(ctx context.Context) (*GenerateRootStatus, error) {
	var s GenerateRootStatus
	_, err := c.Do(ctx, &Request{Method: http.MethodGet, Path: "sys/generate-root/attempt", NoToken: true}, &s)
	return &s, err
}

// GenerateRootUpdate submits one share.
func (c *Client) GenerateRootUpdate(ctx context.Context, key, nonce string) (*GenerateRootStatus, error) {
	var s GenerateRootStatus
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/generate-root/update", NoToken: true, Body: map[string]any{"key": key, "nonce": nonce}}, &s)
	return &s, err
}

// GenerateRootCancel cancels the generation with its nonce.
func (c *Client) GenerateRootCancel(ctx context.Context, nonce string) error {
	_, err := c.Do(ctx, &Request{Method: http.MethodDelete, Path: "sys/generate-root/attempt", NoToken: true, Query: url.Values{"nonce": {nonce}}}, nil)
	return err
}

// MountInfo describes one mount as sys/mounts and sys/internal/ui/mounts
// report it.
type MountInfo struct {
	Path        string            `json:"path"`
	Type        string            `json:"type"`
	Description string            `json:"description"`
	Accessor    string            `json:"accessor"`
	Options     map[string]string `json:"options"`
	Config      struct {
		DefaultLeaseTTL int `json:"default_lease_ttl"`
		MaxLeaseTTL     int `json:"max_lease_ttl"`
	} `json:"config"`
}

// MountFor finds the mount serving path and its KV version ("" for non-KV).
func (c *Client) MountFor(ctx context.Context, path string) (*MountInfo, error) {
	var s struct {
		Data MountInfo `json:"data"`
	}
	_, err := c.Do(ctx, &Request{Method: http.MethodGet, Path: "sys/internal/ui/mounts/" + strings.TrimPrefix(path, "/")}, &s)
	if err != nil {
		return nil, err
	}
	return &s.Data, nil
}

// KeyStatus is sys/key-status: the barrier keyring's current term.
type KeyStatus struct {
	Term        int    `json:"term"`
	InstallTime string `json:"install_time"`
	Encryptions int64  `json:"encryptions"`
}

// KeyStatus reads sys/key-status.
func (c *Client) KeyStatus(ctx context.Context) (*KeyStatus, error) {
	var s struct {
		Data KeyStatus `json:"data"`
	}
	if _, err := c.Do(ctx, &Request{Method: http.MethodGet, Path: "sys/key-status"}, &s); err != nil {
		return nil, err
	}
	return &s.Data, nil
}

// Rotate adds a new barrier key term (needs sudo).
func (c *Client) Rotate(ctx context.Context) error {
	_, err := c.Do(ctx, &Request{Method: http.MethodPut, Path: "sys/rotate"}, nil)
	return err
}

// Backup streams sys/storage/backup into w (needs sudo; bolt storage only)
// The caller verifies the stream's hash.
func (c *Client) Backup(ctx context.Context, w io.Writer) error {
	_, err := c.Do(ctx, &Request{Method: http.MethodGet, Path: "sys/storage/backup"}, w)
	return err
}
