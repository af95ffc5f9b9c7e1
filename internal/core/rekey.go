package core

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/barrier/shamir"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
)

// rekeyCancelWindow is how long after a rekey starts its cancellation needs
// the nonce when it comes without a token (as in Vault 1.17.18 and later):
// an anonymous client cannot stop a fresh ceremony, while an abandoned one
// can still be cleared by anyone who can reach the operator endpoints.
const rekeyCancelWindow = 10 * time.Minute

// rekey is a rekey in progress: new unseal shares for the same root key.
// Guarded by Core.rekeyMu, which is never held while taking stateLock. The
// ceremony functions check the barrier's seal state, not the core's: the
// token-holding routes run inside a request that already holds stateLock.
type rekey struct {
	nonce     string
	started   time.Time
	shares    int
	threshold int
	verify    bool
	progress  shareProgress // shares of the current unseal key

	// The verification phase, when verify is set: the new key exists only
	// here until a threshold of its shares comes back.
	newKey      []byte
	verifyNonce string
	verified    shareProgress
}

func (r *rekey) wipe() {
	r.progress.reset()
	r.verified.reset()
	clear(r.newKey)
	r.newKey = nil
}

// verifying reports whether the new shares were handed out and wait for
// verification.
func (r *rekey) verifying() bool { return r.newKey != nil }

// RekeyParams are the options of a rekey.
type RekeyParams struct {
	Shares, Threshold   int
	RequireVerification bool
}

// RekeyStatus is the body of GET sys/rekey/init (and of sys/rekey/update
// until the threshold is reached).
type RekeyStatus struct {
	Nonce                string   `json:"nonce"`
	Started              bool     `json:"started"`
	T                    int      `json:"t"`
	N                    int      `json:"n"`
	Progress             int      `json:"progress"`
	Required             int      `json:"required"`
	PGPFingerprints      []string `json:"pgp_fingerprints"`
	Backup               bool     `json:"backup"`
	VerificationRequired bool     `json:"verification_required"`
	VerificationNonce    string   `json:"verification_nonce,omitempty"`
}

// RekeyResult is what the last existing share yields: the new shares, which
// the caller encodes once and wipes. When VerificationNonce is set the new
// shares are not in force until verified.
type RekeyResult struct {
	Nonce             string
	Shares            []sensitive.Bytes
	VerificationNonce string
}

// RekeyVerifyStatus is the body of GET sys/rekey/verify.
type RekeyVerifyStatus struct {
	Nonce    string `json:"nonce"`
	Started  bool   `json:"started"`
	T        int    `json:"t"`
	N        int    `json:"n"`
	Progress int    `json:"progress"`
}

// checkShareConfig validates new shares and threshold as Initialize does.
func checkShareConfig(shares, threshold int) error {
	if shares < 1 || shares > 255 {
		return logical.BadRequest("secret_shares must be between 1 and 255")
	}
	if threshold < 1 || threshold > shares {
		return logical.BadRequest("secret_threshold must be between 1 and secret_shares")
	}
	if shares > 1 && threshold == 1 {
		return logical.BadRequest("secret_threshold must be greater than one for multiple shares")
	}
	return nil
}

// splitKey returns the shares of key for cfg (the key itself for one share).
func splitKey(key []byte, shares, threshold int) ([][]byte, error) {
	if shares == 1 {
		return [][]byte{bytes.Clone(key)}, nil
	}
	return shamir.Split(key, shares, threshold)
}

// combineShares reconstructs a key from shares of a configuration with n
// shares. The caller wipes the result.
func combineShares(parts [][]byte, n int) ([]byte, error) {
	if n == 1 {
		return bytes.Clone(parts[0]), nil
	}
	return shamir.Combine(parts)
}

// shareLen is the length of one share of a configuration with n shares.
func shareLen(n int) int {
	if n == 1 {
		return barrier.KeySize
	}
	return barrier.KeySize + 1
}

// sealConfigOrBadRequest reads the configuration of the keys operators
// hold (the unseal key's, or the recovery key's under an auto seal),
// turning "not initialized" into a 400.
func (c *Core) sealConfigOrBadRequest(ctx context.Context) (*barrier.SealConfig, error) {
	cfg, err := c.operatorKeyConfig(ctx)
	if errors.Is(err, barrier.ErrNotInitialized) {
		return nil, logical.BadRequest("Vault is not initialized")
	}
	return cfg, err
}

// StartRekey begins a rekey. The server must be unsealed.
func (c *Core) StartRekey(ctx context.Context, p RekeyParams) (*RekeyStatus, error) {
	if c.barrier.Sealed() {
		return nil, logical.ErrSealed
	}
	if err := checkShareConfig(p.Shares, p.Threshold); err != nil {
		return nil, err
	}
	cfg, err := c.sealConfigOrBadRequest(ctx)
	if err != nil {
		return nil, err
	}
	c.rekeyMu.Lock()
	defer c.rekeyMu.Unlock()
	if c.rekey != nil {
		return nil, logical.BadRequest("rekey already in progress")
	}
	c.rekey = &rekey{nonce: randomID(), started: c.now(), shares: p.Shares, threshold: p.Threshold,
		verify: p.RequireVerification}
	c.logger.Info("rekey started", "secret_shares", p.Shares, "secret_threshold", p.Threshold,
		"verification_required", p.RequireVerification)
	return c.rekeyStatusLocked(cfg), nil
}

func (c *Core) rekeyStatusLocked(cfg *barrier.SealConfig) *RekeyStatus {
	st := &RekeyStatus{Required: cfg.SecretThreshold}
	if r := c.rekey; r != nil {
		st.Nonce, st.Started = r.nonce, true
		st.T, st.N = r.threshold, r.shares
		st.Progress = len(r.progress.shares)
		st.VerificationRequired = r.verify
		st.VerificationNonce = r.verifyNonce
	}
	return st
}

// RekeyStatus reports the rekey in progress.
func (c *Core) RekeyStatus(ctx context.Context) (*RekeyStatus, error) {
	if c.barrier.Sealed() {
		return nil, logical.ErrSealed
	}
	cfg, err := c.sealConfigOrBadRequest(ctx)
	if err != nil {
		return nil, err
	}
	c.rekeyMu.Lock()
	defer c.rekeyMu.Unlock()
	return c.rekeyStatusLocked(cfg), nil
}

// CancelRekey stops the rekey in progress, verification phase included; the
// current shares stay valid. A request without a token (authenticated false)
// must give the nonce during the first rekeyCancelWindow; a wrong nonce is
// always refused.
func (c *Core) CancelRekey(nonce string, authenticated bool) error {
	c.rekeyMu.Lock()
	defer c.rekeyMu.Unlock()
	r := c.rekey
	if r == nil {
		return nil
	}
	switch {
	case nonce != "":
		if subtle.ConstantTimeCompare([]byte(nonce), []byte(r.nonce)) != 1 {
			return logical.BadRequest("nonce does not match the rekey in progress")
		}
	case !authenticated && c.now().Sub(r.started) < rekeyCancelWindow:
		return logical.BadRequest("cancelling a rekey started less than %s ago requires its nonce", rekeyCancelWindow)
	}
	r.wipe()
	c.rekey = nil
	c.logger.Info("rekey cancelled")
	return nil
}

// SubmitRekeyShare adds a share of the current unseal key. Below the
// threshold it returns the status. At the threshold it checks the
// reconstructed key and creates the new one: without verification the new
// key replaces the old at once; with verification the new shares are
// returned and the old key stays in force until they are verified.
func (c *Core) SubmitRekeyShare(ctx context.Context, share []byte, nonce string) (*RekeyStatus, *RekeyResult, error) {
	if c.barrier.Sealed() {
		return nil, nil, logical.ErrSealed
	}
	cfg, err := c.sealConfigOrBadRequest(ctx)
	if err != nil {
		return nil, nil, err
	}
	if nonce == "" {
		return nil, nil, logical.BadRequest("missing required field 'nonce'")
	}
	if len(share) != shareLen(cfg.SecretShares) {
		return nil, nil, logical.BadRequest("key has the wrong length for this store")
	}
	c.rekeyMu.Lock()
	defer c.rekeyMu.Unlock()
	r := c.rekey
	if r == nil {
		return nil, nil, logical.BadRequest("no rekey in progress")
	}
	if subtle.ConstantTimeCompare([]byte(nonce), []byte(r.nonce)) != 1 {
		return nil, nil, logical.BadRequest("nonce does not match the rekey in progress")
	}
	if r.verifying() {
		return nil, nil, logical.BadRequest("the new shares were issued; verify them at sys/rekey/verify with nonce %s", r.verifyNonce)
	}
	if !r.progress.add(bytes.Clone(share)) {
		return nil, nil, logical.BadRequest("this key was already provided; progress is unchanged")
	}
	if len(r.progress.shares) < cfg.SecretThreshold {
		return c.rekeyStatusLocked(cfg), nil, nil
	}
	oldKey, err := combineShares(r.progress.shares, cfg.SecretShares)
	r.progress.reset()
	if err != nil {
		return nil, nil, logical.BadRequest("rekey failed: the keys do not combine; progress was reset")
	}
	defer clear(oldKey)
	if err := c.verifyOperatorKey(ctx, oldKey); err != nil {
		if errors.Is(err, barrier.ErrBadKey) {
			return nil, nil, logical.BadRequest("rekey failed: the keys are not valid for this store; progress was reset")
		}
		return nil, nil, fmt.Errorf("rekey: %w", err)
	}
	newKey := randomKeyBytes()
	shares, err := splitKey(newKey, r.shares, r.threshold)
	if err != nil {
		clear(newKey)
		return nil, nil, fmt.Errorf("rekey: split new key: %w", err)
	}
	res := &RekeyResult{Nonce: r.nonce, Shares: sensitiveShares(shares)}
	if r.verify {
		r.newKey = newKey
		r.verifyNonce = randomID()
		res.VerificationNonce = r.verifyNonce
		c.logger.Info("rekey shares issued; waiting for verification")
		return nil, res, nil
	}
	defer clear(newKey)
	if err := c.commitRekey(ctx, newKey, r); err != nil {
		wipeShares(shares)
		return nil, nil, err
	}
	return nil, res, nil
}

// commitRekey installs newKey as the unseal key (one atomic write: the old
// shares work until it lands, the new ones from then on) and ends the
// rekey. The caller holds rekeyMu. On failure the rekey is cancelled.
func (c *Core) commitRekey(ctx context.Context, newKey []byte, r *rekey) error {
	err := c.installOperatorKey(ctx, newKey, r.shares, r.threshold)
	r.wipe()
	c.rekey = nil
	if errors.Is(err, barrier.ErrSealed) {
		return logical.ErrSealed
	}
	if err != nil {
		return fmt.Errorf("rekey: %w; the current shares stay valid and the rekey was cancelled", err)
	}
	c.logger.Warn("rekeyed: the previous shares are no longer valid", "secret_shares", r.shares, "secret_threshold", r.threshold)
	return nil
}

// randomKeyBytes returns a new unseal key from crypto/rand.
func randomKeyBytes() []byte {
	k := make([]byte, barrier.KeySize)
	rand.Read(k) // never fails; crashes the program if the kernel has no randomness
	return k
}

func wipeShares(shares [][]byte) {
	for _, s := range shares {
		clear(s)
	}
}

func (c *Core) rekeyVerifyStatusLocked() (*RekeyVerifyStatus, error) {
	r := c.rekey
	if r == nil {
		return nil, logical.BadRequest("no rekey in progress")
	}
	return &RekeyVerifyStatus{Nonce: r.verifyNonce, Started: r.verifying(), T: r.threshold, N: r.shares,
		Progress: len(r.verified.shares)}, nil
}

// RekeyVerifyStatus reports the verification of the new shares.
func (c *Core) RekeyVerifyStatus(ctx context.Context) (*RekeyVerifyStatus, error) {
	if c.barrier.Sealed() {
		return nil, logical.ErrSealed
	}
	if _, err := c.sealConfigOrBadRequest(ctx); err != nil {
		return nil, err
	}
	c.rekeyMu.Lock()
	defer c.rekeyMu.Unlock()
	return c.rekeyVerifyStatusLocked()
}

// RestartRekeyVerify discards the verification progress and draws a new
// verification nonce; the issued new shares stay the candidates.
func (c *Core) RestartRekeyVerify(ctx context.Context) (*RekeyVerifyStatus, error) {
	if c.barrier.Sealed() {
		return nil, logical.ErrSealed
	}
	c.rekeyMu.Lock()
	defer c.rekeyMu.Unlock()
	r := c.rekey
	if r == nil || !r.verifying() {
		return nil, logical.BadRequest("no rekey verification in progress")
	}
	r.verified.reset()
	r.verifyNonce = randomID()
	return c.rekeyVerifyStatusLocked()
}

// SubmitRekeyVerifyShare adds a share of the new key. At the new threshold
// the reconstructed key must equal the issued one; only then does it
// replace the current unseal key. complete reports that it did.
func (c *Core) SubmitRekeyVerifyShare(ctx context.Context, share []byte, nonce string) (st *RekeyVerifyStatus, complete bool, err error) {
	if c.barrier.Sealed() {
		return nil, false, logical.ErrSealed
	}
	if nonce == "" {
		return nil, false, logical.BadRequest("missing required field 'nonce'")
	}
	c.rekeyMu.Lock()
	defer c.rekeyMu.Unlock()
	r := c.rekey
	if r == nil || !r.verifying() {
		return nil, false, logical.BadRequest("no rekey verification in progress")
	}
	if subtle.ConstantTimeCompare([]byte(nonce), []byte(r.verifyNonce)) != 1 {
		return nil, false, logical.BadRequest("nonce does not match the rekey verification in progress")
	}
	if len(share) != shareLen(r.shares) {
		return nil, false, logical.BadRequest("key has the wrong length for the new shares")
	}
	if !r.verified.add(bytes.Clone(share)) {
		return nil, false, logical.BadRequest("this key was already provided; progress is unchanged")
	}
	if len(r.verified.shares) < r.threshold {
		st, err := c.rekeyVerifyStatusLocked()
		return st, false, err
	}
	got, err := combineShares(r.verified.shares, r.shares)
	r.verified.reset()
	if err != nil || subtle.ConstantTimeCompare(got, r.newKey) != 1 {
		clear(got)
		return nil, false, logical.BadRequest("rekey verification failed: the keys are not the new shares; verification progress was reset")
	}
	clear(got)
	verifyNonce := r.verifyNonce
	newKey := bytes.Clone(r.newKey)
	defer clear(newKey)
	if err := c.commitRekey(ctx, newKey, r); err != nil {
		return nil, false, err
	}
	return &RekeyVerifyStatus{Nonce: verifyNonce}, true, nil
}

// wipeRekey drops a rekey in progress and its pending key (on seal).
func (c *Core) wipeRekey() {
	c.rekeyMu.Lock()
	defer c.rekeyMu.Unlock()
	if c.rekey != nil {
		c.rekey.wipe()
		c.rekey = nil
	}
}
