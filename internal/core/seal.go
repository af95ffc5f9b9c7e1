package core

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/barrier/shamir"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
	"github.com/keyward/keyward/internal/tokenfmt"
)

// InitParams are the options of operator init.
type InitParams struct {
	Shares    int
	Threshold int
	// RootTokenID, when set, is used as the root token (dev mode).
	RootTokenID sensitive.String
	// RecoveryShares and RecoveryThreshold split the recovery key of an
	// auto seal (default 5 and 3); Shares and Threshold are then unused.
	RecoveryShares, RecoveryThreshold int
}

// InitResult carries the unseal shares and root token. Both are secret, and
// their types keep them out of every format and log: the caller reveals
// them once, to show or send them, and drops them.
type InitResult struct {
	Shares    []sensitive.Bytes
	RootToken sensitive.String
	// RecoveryShares are the recovery key's shares (auto seals only).
	RecoveryShares []sensitive.Bytes
}

// SealStatus is the body of sys/seal-status and sys/unseal.
type SealStatus struct {
	Type         string `json:"type"`
	Initialized  bool   `json:"initialized"`
	Sealed       bool   `json:"sealed"`
	T            int    `json:"t"`
	N            int    `json:"n"`
	Progress     int    `json:"progress"`
	Nonce        string `json:"nonce"`
	Version      string `json:"version"`
	BuildDate    string `json:"build_date"`
	Migration    bool   `json:"migration"`
	ClusterName  string `json:"cluster_name,omitempty"`
	ClusterID    string `json:"cluster_id,omitempty"`
	RecoverySeal bool   `json:"recovery_seal"`
	StorageType  string `json:"storage_type,omitempty"`
	// AutoUnsealError says why an auto-sealed server is still sealed (the
	// seal could not be reached, or the configuration does not match the
	// store); empty otherwise. Not a Vault field.
	AutoUnsealError string `json:"auto_unseal_error,omitempty"`
}

// shareProgress accumulates unseal or generate-root shares.
type shareProgress struct {
	nonce  string
	shares [][]byte
}

func (p *shareProgress) reset() {
	for _, s := range p.shares {
		clear(s)
	}
	p.shares = nil
	p.nonce = ""
}

// add records a share, which it keeps, and reports whether it was new. A
// duplicate (compared in constant time) is wiped and makes no progress.
func (p *shareProgress) add(share []byte) bool {
	for _, s := range p.shares {
		if subtle.ConstantTimeCompare(s, share) == 1 {
			clear(share)
			return false
		}
	}
	p.shares = append(p.shares, share)
	return true
}

// Initialize sets up a new store: it creates the keys, splits the unseal key
// into shares and creates the root token. The core stays sealed.
func (c *Core) Initialize(ctx context.Context, p InitParams) (*InitResult, error) {
	auto := c.cfg.Seal != nil
	if auto {
		if p.RecoveryShares == 0 && p.RecoveryThreshold == 0 {
			p.RecoveryShares, p.RecoveryThreshold = 5, 3
		}
		if err := checkRecoveryConfig(p.RecoveryShares, p.RecoveryThreshold); err != nil {
			return nil, err
		}
		// The server unseals itself once the store exists.
		defer c.kickAutoUnseal()
	} else {
		if p.Shares < 1 || p.Shares > 255 {
			return nil, logical.BadRequest("secret_shares must be between 1 and 255")
		}
		if p.Threshold < 1 || p.Threshold > p.Shares {
			return nil, logical.BadRequest("secret_threshold must be between 1 and secret_shares")
		}
		if p.Shares > 1 && p.Threshold == 1 {
			return nil, logical.BadRequest("secret_threshold must be greater than one for multiple shares")
		}
	}
	c.stateLock.Lock()
	defer c.stateLock.Unlock()
	if ok, err := c.barrier.Initialized(ctx); err != nil {
		return nil, err
	} else if ok {
		return nil, logical.BadRequest("Vault is already initialized")
	}
	if c.cfg.BeforeInitialize != nil {
		if err := c.cfg.BeforeInitialize(ctx); err != nil {
			return nil, fmt.Errorf("initialize: %w", err)
		}
	}
	var key []byte
	var shares, recShares [][]byte
	var err error
	if auto {
		var recKey []byte
		key, recKey, err = c.barrier.InitializeAuto(ctx, c.cfg.Seal.Type(),
			barrier.SealConfig{SecretShares: p.RecoveryShares, SecretThreshold: p.RecoveryThreshold},
			func(k []byte) ([]byte, error) { return c.wrapKey(ctx, c.cfg.Seal, k) })
		if err != nil {
			return nil, err // it names the step
		}
		recShares, err = splitKey(recKey, p.RecoveryShares, p.RecoveryThreshold)
		clear(recKey)
		if err != nil {
			clear(key)
			return nil, fmt.Errorf("initialize: split recovery key: %w", err)
		}
	} else {
		key, err = c.barrier.Initialize(ctx, barrier.SealConfig{Type: "shamir", SecretShares: p.Shares, SecretThreshold: p.Threshold})
		if err != nil {
			return nil, fmt.Errorf("initialize: %w", err)
		}
		if p.Shares == 1 {
			shares = [][]byte{bytes.Clone(key)}
		} else {
			shares, err = shamir.Split(key, p.Shares, p.Threshold)
			if err != nil {
				clear(key)
				return nil, fmt.Errorf("initialize: split unseal key: %w", err)
			}
		}
	}
	defer clear(key)
	if err := c.barrier.Unseal(ctx, key); err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	defer c.sealLocked()
	if c.cfg.OnUnsealed != nil {
		if err := c.cfg.OnUnsealed(ctx, c.barrier); err != nil {
			return nil, fmt.Errorf("initialize: %w", err)
		}
	}
	if c.cfg.HA != nil {
		// Initialize writes as the active node would.
		if _, err := c.cfg.HA.Acquire(ctx); err != nil {
			return nil, fmt.Errorf("initialize: wait for the active lock: %w", err)
		}
		defer c.cfg.HA.Release(context.Background())
	}
	if err := c.postUnseal(ctx); err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	root, err := c.createRootToken(ctx, c.active, p.RootTokenID.Reveal())
	if err != nil {
		return nil, fmt.Errorf("initialize: create root token: %w", err)
	}
	if c.cfg.OnInitialized != nil {
		if err := c.cfg.OnInitialized(); err != nil {
			return nil, fmt.Errorf("initialize: %w", err)
		}
	}
	if auto {
		c.logger.Info("initialized", "seal", c.cfg.Seal.Type(), "recovery_shares", p.RecoveryShares, "recovery_threshold", p.RecoveryThreshold)
		return &InitResult{RecoveryShares: sensitiveShares(recShares), RootToken: sensitive.NewString(root)}, nil
	}
	c.logger.Info("initialized", "shares", p.Shares, "threshold", p.Threshold)
	return &InitResult{Shares: sensitiveShares(shares), RootToken: sensitive.NewString(root)}, nil
}

// sensitiveShares hands shares over to sensitive.Bytes (without copying).
func sensitiveShares(shares [][]byte) []sensitive.Bytes {
	out := make([]sensitive.Bytes, len(shares))
	for i, s := range shares {
		out[i] = sensitive.NewBytes(s)
	}
	return out
}

func (c *Core) createRootToken(ctx context.Context, a *active, id string) (string, error) {
	return a.tokens.Create(ctx, &token.Entry{
		ID:          sensitive.NewString(id),
		Policies:    []string{"root"},
		DisplayName: "root",
		Path:        "auth/token/root",
		Orphan:      true,
	})
}

// SealStatus reports the seal state.
func (c *Core) SealStatus(ctx context.Context) (*SealStatus, error) {
	return c.sealStatus(ctx, c.Sealed())
}

// sealStatus builds the status for the given seal state without taking
// stateLock.
func (c *Core) sealStatus(ctx context.Context, sealed bool) (*SealStatus, error) {
	st := &SealStatus{Type: "shamir", Version: Version, BuildDate: buildDate, StorageType: c.cfg.StorageType, Sealed: true}
	if c.cfg.Seal != nil {
		st.Type, st.RecoverySeal = c.cfg.Seal.Type(), true
	}
	init, err := c.barrier.Initialized(ctx)
	if err != nil {
		return nil, err
	}
	st.Initialized = init
	if !init {
		return st, nil
	}
	cfg, err := c.barrier.SealConfig(ctx)
	if err != nil {
		return nil, err
	}
	st.Type, st.RecoverySeal = cfg.Type, barrier.IsAutoSeal(cfg.Type)
	keys, err := c.operatorKeyConfig(ctx)
	if err != nil {
		return nil, err
	}
	st.T, st.N = keys.SecretThreshold, keys.SecretShares
	st.Sealed = sealed
	mode, _ := c.migration(ctx)
	st.Migration = sealed && mode != migrateNone && mode != migrateMismatch
	c.unsealMu.Lock()
	st.Progress = len(c.unseal.shares)
	st.Nonce = c.unseal.nonce
	c.unsealMu.Unlock()
	if sealed {
		st.AutoUnsealError = c.autoUnsealError()
	} else {
		st.ClusterName = c.cfg.ClusterName
		st.ClusterID = c.clusterIDOrEmpty()
	}
	return st, nil
}

const buildDate = "2026-11-22T00:00:00Z"

func (c *Core) clusterIDOrEmpty() string {
	if p := c.clusterID.Load(); p != nil {
		return *p
	}
	return ""
}

// decodeShare accepts a share in hex or base64.
func decodeShare(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) > 0 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) > 0 {
		return b, nil
	}
	return nil, logical.BadRequest("key must be hex or base64 encoded")
}

// SubmitUnsealShare adds one share; when the threshold is reached the core
// unseals (or reports a wrong key and starts over).
func (c *Core) SubmitUnsealShare(ctx context.Context, share []byte) (*SealStatus, error) {
	return c.SubmitUnsealShareMigrate(ctx, share, false)
}

// SubmitUnsealShareMigrate is SubmitUnsealShare with Vault's migrate flag:
// while a seal migration is configured the shares (the unseal keys when
// leaving Shamir, the recovery keys when leaving an auto seal) must come
// with migrate set, and at the threshold the store is migrated and
// unsealed.
func (c *Core) SubmitUnsealShareMigrate(ctx context.Context, share []byte, migrate bool) (*SealStatus, error) {
	init, err := c.barrier.Initialized(ctx)
	if err != nil {
		return nil, err
	}
	if !init {
		return nil, logical.BadRequest("Vault is not initialized")
	}
	if !c.Sealed() {
		return c.SealStatus(ctx)
	}
	mode, why := c.migration(ctx)
	switch {
	case mode == migrateMismatch:
		return nil, logical.BadRequest("%s", why)
	case mode == migrateNone && c.cfg.Seal != nil:
		return nil, logical.BadRequest("this server uses the %s seal and unseals itself at start (after sys/seal, restart it); recovery keys authorise generate-root, rekey and, with migrate=true, a seal migration", c.cfg.Seal.Type())
	case mode != migrateNone && !migrate:
		return nil, logical.BadRequest("a seal migration is configured (%s): submit the keys with migrate=true", mode)
	case mode == migrateNone && migrate:
		return nil, logical.BadRequest("migrate=true but no seal migration is configured")
	}
	cfg, err := c.operatorKeyConfig(ctx)
	if err != nil {
		return nil, err
	}
	if len(share) != shareLen(cfg.SecretShares) {
		return nil, logical.BadRequest("key has the wrong length for this store")
	}
	c.unsealMu.Lock()
	// A share sent twice makes no progress and is no error, as in Vault:
	// the operator who repeats one sees the unchanged progress.
	if c.unseal.add(bytes.Clone(share)) && c.unseal.nonce == "" {
		c.unseal.nonce = randomID()
	}
	if len(c.unseal.shares) < cfg.SecretThreshold {
		c.unsealMu.Unlock()
		return c.SealStatus(ctx)
	}
	key, err := combineShares(c.unseal.shares, cfg.SecretShares)
	c.unseal.reset()
	c.unsealMu.Unlock()
	if err != nil {
		return nil, logical.BadRequest("unseal failed: the keys do not combine: %v", err)
	}
	defer clear(key)

	c.stateLock.Lock()
	defer c.stateLock.Unlock()
	if !c.barrier.Sealed() {
		return c.sealStatus(ctx, false)
	}
	if mode != migrateNone {
		if err := c.migrateLocked(ctx, mode, key, cfg); err != nil {
			return nil, err
		}
	} else if err := c.barrier.Unseal(ctx, key); err != nil {
		if errors.Is(err, barrier.ErrBadKey) {
			return nil, logical.BadRequest("unseal failed: the keys are not valid for this store; progress was reset")
		}
		return nil, fmt.Errorf("unseal: %w", err)
	}
	if err := c.finishUnsealLocked(ctx); err != nil {
		return nil, err
	}
	return c.sealStatus(ctx, c.barrier.Sealed())
}

// finishUnsealLocked brings up the unsealed state once the barrier is
// open: into standby with an HA lock, else active. stateLock is held for
// writing; on error the barrier is sealed again.
func (c *Core) finishUnsealLocked(ctx context.Context) error {
	if c.cfg.OnUnsealed != nil {
		if err := c.cfg.OnUnsealed(ctx, c.barrier); err != nil {
			c.barrier.Seal()
			return fmt.Errorf("unseal: %w", err)
		}
	}
	if c.cfg.HA != nil {
		id, err := c.loadClusterIDReadOnly(ctx)
		if err != nil {
			c.barrier.Seal()
			return fmt.Errorf("unseal: %w", err)
		}
		c.clusterID.Store(&id)
		c.startHA()
		c.logger.Info("unsealed: standing by for the active lock")
		return nil
	}
	if err := c.postUnseal(ctx); err != nil {
		c.barrier.Seal()
		return fmt.Errorf("unseal: %w", err)
	}
	c.logger.Info("unsealed")
	return nil
}

// ResetUnseal discards unseal progress. A nonce, when given, must be the
// progress's own, so a reset meant for an earlier attempt cannot wipe a new
// one; without a nonce the reset applies to whatever is in progress, as
// `vault operator unseal -reset` expects (the nonce is public in
// sys/seal-status, so requiring it would guard nothing). Who may reset is
// decided by the operator network list and rate limit; each nonce-less
// reset of real progress is logged with the client address.
func (c *Core) ResetUnseal(nonce, remote string) error {
	c.unsealMu.Lock()
	defer c.unsealMu.Unlock()
	if len(c.unseal.shares) == 0 {
		c.unseal.reset()
		return nil
	}
	if nonce != "" && subtle.ConstantTimeCompare([]byte(nonce), []byte(c.unseal.nonce)) != 1 {
		return logical.BadRequest("nonce does not match the unseal in progress; progress is unchanged")
	}
	if nonce == "" {
		c.logger.Warn("unseal progress reset without its nonce", "progress", len(c.unseal.shares), "remote_addr", remote)
	} else {
		c.logger.Info("unseal progress reset", "progress", len(c.unseal.shares), "remote_addr", remote)
	}
	c.unseal.reset()
	return nil
}

// Unseal is a convenience for dev mode and tests: submit all shares.
func (c *Core) Unseal(ctx context.Context, shares []sensitive.Bytes) error {
	for _, s := range shares {
		st, err := c.SubmitUnsealShare(ctx, s.Reveal())
		if err != nil {
			return err
		}
		if !st.Sealed {
			return nil
		}
	}
	if c.Sealed() {
		return errors.New("unseal: not enough shares")
	}
	return nil
}

// Seal seals the core and wipes key material from memory.
func (c *Core) Seal() {
	c.stopHA()
	c.stateLock.Lock()
	defer c.stateLock.Unlock()
	c.sealLocked()
	c.logger.Info("sealed")
}

// generateRoot is a root-token generation in progress.
type generateRoot struct {
	progress shareProgress
	otp      string
}

// GenerateRootStatus is the body of sys/generate-root/attempt.
type GenerateRootStatus struct {
	Started          bool   `json:"started"`
	Nonce            string `json:"nonce"`
	Progress         int    `json:"progress"`
	Required         int    `json:"required"`
	Complete         bool   `json:"complete"`
	EncodedToken     string `json:"encoded_token"`
	EncodedRootToken string `json:"encoded_root_token"`
	PGPFingerprint   string `json:"pgp_fingerprint"`
	OTPLength        int    `json:"otp_length"`
	OTP              string `json:"otp,omitempty"`
}

func (c *Core) generateRootStatusLocked(ctx context.Context) (*GenerateRootStatus, error) {
	cfg, err := c.sealConfigOrBadRequest(ctx)
	if err != nil {
		return nil, err
	}
	st := &GenerateRootStatus{Required: cfg.SecretThreshold, OTPLength: tokenfmt.Len}
	if g := c.genRoot; g != nil {
		st.Started = true
		st.Nonce = g.progress.nonce
		st.Progress = len(g.progress.shares)
	}
	return st, nil
}

// StartGenerateRoot begins a root token generation. With otp empty the
// server draws the one-time pad and returns it (once) in the status; with
// the client's own otp (`vault operator generate-root -generate-otp`, then
// `-init -otp=...`) that pad is used and never echoed. A client OTP must be
// otp_length (tokenfmt.Len) base62 characters, as the Vault and OpenBao CLIs
// generate it: the encoded token is base64(token XOR otp), so the lengths
// must match for the client to decode a usable token.
func (c *Core) StartGenerateRoot(ctx context.Context, otp string) (*GenerateRootStatus, error) {
	if c.barrier.Sealed() { // not c.Sealed: sys/generate-root-token holds stateLock
		return nil, logical.ErrSealed
	}
	generated := otp == ""
	if generated {
		otp = tokenfmt.Generate(tokenfmt.Recovery)
	} else if err := checkOTP(otp); err != nil {
		return nil, err
	}
	c.unsealMu.Lock()
	defer c.unsealMu.Unlock()
	if c.genRoot != nil {
		return nil, logical.BadRequest("root generation already in progress")
	}
	c.genRoot = &generateRoot{otp: otp, progress: shareProgress{nonce: randomID()}}
	st, err := c.generateRootStatusLocked(ctx)
	if err != nil {
		c.genRoot = nil
		return nil, err
	}
	if generated {
		st.OTP = otp
	}
	return st, nil
}

// checkOTP validates a client-chosen one-time pad. The message never
// echoes it.
func checkOTP(otp string) error {
	if len(otp) != tokenfmt.Len {
		return logical.BadRequest("otp must be %d base62 characters (otp_length; generate it with operator generate-root -generate-otp), got %d characters", tokenfmt.Len, len(otp))
	}
	for i := 0; i < len(otp); i++ {
		ch := otp[i]
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z') {
			return logical.BadRequest("otp must be %d base62 characters (0-9, a-z, A-Z); it has another character at position %d", tokenfmt.Len, i+1)
		}
	}
	return nil
}

// cancelGenerateRoot stops a generation. An authenticated caller (a token
// the ACL allowed on sys/generate-root-token/attempt) needs no nonce; a
// nonce, when given, must match.
func (c *Core) cancelGenerateRoot(nonce string, authenticated bool) error {
	c.unsealMu.Lock()
	defer c.unsealMu.Unlock()
	if c.genRoot == nil {
		return nil
	}
	if (nonce != "" || !authenticated) && subtle.ConstantTimeCompare([]byte(nonce), []byte(c.genRoot.progress.nonce)) != 1 {
		return logical.BadRequest("cancel requires the nonce of the root generation in progress")
	}
	c.genRoot.progress.reset()
	c.genRoot = nil
	return nil
}

// GenerateRootStatus reports the generation in progress.
func (c *Core) GenerateRootStatus(ctx context.Context) (*GenerateRootStatus, error) {
	c.unsealMu.Lock()
	defer c.unsealMu.Unlock()
	return c.generateRootStatusLocked(ctx)
}

// SubmitGenerateRootShare adds a share; at the threshold it verifies the
// reconstructed unseal key and creates a new root token, returned XORed with
// the OTP and base64-encoded.
func (c *Core) SubmitGenerateRootShare(ctx context.Context, share []byte, nonce string) (*GenerateRootStatus, error) {
	st, _, err := c.submitGenerateRootShare(ctx, share, nonce, false)
	return st, err
}

// submitGenerateRootShare is SubmitGenerateRootShare that also returns the
// new root token once complete, so a caller that cannot audit the response
// can revoke it. locked says the caller (a request through the pipeline)
// already holds stateLock for reading.
func (c *Core) submitGenerateRootShare(ctx context.Context, share []byte, nonce string, locked bool) (*GenerateRootStatus, string, error) {
	if c.barrier.Sealed() {
		return nil, "", logical.ErrSealed
	}
	cfg, err := c.sealConfigOrBadRequest(ctx)
	if err != nil {
		return nil, "", err
	}
	c.unsealMu.Lock()
	g := c.genRoot
	if g == nil {
		c.unsealMu.Unlock()
		return nil, "", logical.BadRequest("no root generation in progress")
	}
	if subtle.ConstantTimeCompare([]byte(nonce), []byte(g.progress.nonce)) != 1 {
		c.unsealMu.Unlock()
		return nil, "", logical.BadRequest("nonce does not match the root generation in progress")
	}
	if !g.progress.add(bytes.Clone(share)) {
		c.unsealMu.Unlock()
		return nil, "", logical.BadRequest("this key was already provided; progress is unchanged")
	}
	st, err := c.generateRootStatusLocked(ctx)
	if err != nil || len(g.progress.shares) < cfg.SecretThreshold {
		c.unsealMu.Unlock()
		return st, "", err
	}
	var key []byte
	if cfg.SecretShares == 1 {
		key = bytes.Clone(g.progress.shares[0])
	} else {
		key, err = shamir.Combine(g.progress.shares)
	}
	otp := g.otp
	g.progress.reset()
	c.genRoot = nil
	c.unsealMu.Unlock()
	if err != nil {
		return nil, "", logical.BadRequest("root generation failed: the keys do not combine; generation cancelled")
	}
	defer clear(key)
	if err := c.verifyOperatorKey(ctx, key); err != nil {
		return nil, "", logical.BadRequest("root generation failed: the keys are not valid for this store; generation cancelled")
	}
	if !locked {
		c.stateLock.RLock()
		defer c.stateLock.RUnlock()
	}
	if c.active == nil {
		return nil, "", logical.ErrSealed
	}
	root, err := c.createRootToken(ctx, c.active, "")
	if err != nil {
		return nil, "", err
	}
	if len(root) != len(otp) {
		// Never hand out an encoding the client cannot decode.
		if rerr := c.active.tokens.Revoke(ctx, root); rerr != nil {
			c.logger.Error("revoke undecodable root token", "err", rerr)
		}
		return nil, "", fmt.Errorf("root generation: token length %d differs from the OTP length %d", len(root), len(otp))
	}
	enc := make([]byte, len(root))
	subtle.XORBytes(enc, []byte(root), []byte(otp))
	c.logger.Warn("root token generated by root generation", "accessor", c.accessorOf(ctx, root))
	return &GenerateRootStatus{Started: true, Nonce: nonce, Complete: true, Progress: cfg.SecretThreshold, Required: cfg.SecretThreshold, OTPLength: len(otp),
		EncodedToken: base64.RawStdEncoding.EncodeToString(enc), EncodedRootToken: base64.RawStdEncoding.EncodeToString(enc)}, root, nil
}

// accessorOf names a token in logs by its accessor.
func (c *Core) accessorOf(ctx context.Context, tok string) string {
	if c.active == nil {
		return ""
	}
	e, err := c.active.tokens.Lookup(ctx, tok)
	if err != nil {
		return ""
	}
	return e.Accessor
}

// DecodeRootToken reverses the OTP encoding of a generated root token.
func DecodeRootToken(encoded, otp string) (string, error) {
	enc, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(encoded, "="))
	if err != nil {
		return "", fmt.Errorf("decode root token: %w", err)
	}
	if len(enc) != len(otp) {
		return "", errors.New("decode root token: the OTP does not match the encoded token's length")
	}
	out := make([]byte, len(enc))
	subtle.XORBytes(out, enc, []byte(otp))
	return string(out), nil
}
