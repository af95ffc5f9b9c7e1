package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/barrier"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/seal"
)

// Auto seals and seal migration.
//
// With Config.Seal set the store's unseal key is wrapped by that seal and
// the server unseals itself: at start (StartAutoUnseal) and right after
// init, retrying with backoff while the seal cannot be reached. Operators
// hold recovery key shares, which drive generate-root and rekey (of the
// recovery key) and seal migration. Which migration applies follows from
// the stored seal type and the configuration, as in Vault:
//
//	stored shamir,  seal X enabled                     -> to X (old unseal keys become the recovery keys)
//	stored X,       no enabled seal, X disabled         -> to shamir (recovery keys become the unseal keys)
//	stored X,       seal Y enabled, X disabled          -> X to Y (recovery keys unchanged)
//	stored X,       seal X enabled                      -> none (a disabled stanza is ignored)
//	stored X,       anything else                       -> refused: the store stays sealed
//
// A migration runs when a threshold of the keys arrives at sys/unseal with
// migrate=true. Nothing ever falls back to a weaker protection: a seal that
// cannot be reached leaves the server sealed.

// uninitializedPoll is how often an uninitialized auto-sealed server checks
// whether another node initialized the shared store.
const uninitializedPoll = 5 * time.Second

type migrationMode string

const (
	migrateNone     migrationMode = ""
	migrateToAuto   migrationMode = "shamir to auto seal"
	migrateToShamir migrationMode = "auto seal to shamir"
	migrateAutoAuto migrationMode = "auto seal to auto seal"
	migrateMismatch migrationMode = "mismatch"
)

// autoUnseal is the state of the auto-unseal loop.
type autoUnseal struct {
	kick    chan struct{} // init done: try now
	stop    chan struct{}
	once    sync.Once
	started bool
	wg      sync.WaitGroup

	mu      sync.Mutex
	lastErr string
}

// checkRecoveryConfig validates recovery_shares and recovery_threshold.
func checkRecoveryConfig(shares, threshold int) error {
	if shares < 1 || shares > 255 {
		return logical.BadRequest("recovery_shares must be between 1 and 255")
	}
	if threshold < 1 || threshold > shares {
		return logical.BadRequest("recovery_threshold must be between 1 and recovery_shares")
	}
	if shares > 1 && threshold == 1 {
		return logical.BadRequest("recovery_threshold must be greater than one for multiple shares")
	}
	return nil
}

// migration reports which migration the configuration asks for; for
// migrateMismatch the string says why the store cannot be unsealed.
func (c *Core) migration(ctx context.Context) (migrationMode, string) {
	cfg, err := c.barrier.SealConfig(ctx)
	if err != nil {
		return migrateNone, ""
	}
	stored := cfg.Type
	if stored == "shamir" {
		if c.cfg.Seal != nil {
			return migrateToAuto, ""
		}
		return migrateNone, ""
	}
	if c.cfg.Seal != nil && c.cfg.Seal.Type() == stored {
		return migrateNone, ""
	}
	if c.cfg.MigrateFrom != nil && c.cfg.MigrateFrom.Type() == stored {
		if c.cfg.Seal == nil {
			return migrateToShamir, ""
		}
		return migrateAutoAuto, ""
	}
	return migrateMismatch, fmt.Sprintf("the store is wrapped by a %q seal but the configuration has no seal %q stanza "+
		"(keep it, or mark it disabled = true to migrate away from it)", stored, stored)
}

// operatorKeyConfig is the configuration of the shares operators hold: the
// recovery key's under an auto seal, the unseal key's under Shamir.
func (c *Core) operatorKeyConfig(ctx context.Context) (*barrier.SealConfig, error) {
	cfg, err := c.barrier.SealConfig(ctx)
	if err != nil {
		return nil, err
	}
	if barrier.IsAutoSeal(cfg.Type) {
		return c.barrier.RecoveryConfig(ctx)
	}
	return cfg, nil
}

// verifyOperatorKey checks a reconstructed key against the store: the
// recovery key under an auto seal, the unseal key under Shamir.
func (c *Core) verifyOperatorKey(ctx context.Context, key []byte) error {
	cfg, err := c.barrier.SealConfig(ctx)
	if err != nil {
		return err
	}
	if barrier.IsAutoSeal(cfg.Type) {
		return c.barrier.VerifyRecoveryKey(ctx, key)
	}
	return c.barrier.VerifyUnsealKey(ctx, key)
}

// installOperatorKey makes key (split into shares/threshold) the key
// operators hold: a rekey of the recovery key under an auto seal, of the
// unseal key under Shamir.
func (c *Core) installOperatorKey(ctx context.Context, key []byte, shares, threshold int) error {
	cfg, err := c.barrier.SealConfig(ctx)
	if err != nil {
		return err
	}
	if barrier.IsAutoSeal(cfg.Type) {
		return c.barrier.RekeyRecoveryKey(ctx, key, barrier.SealConfig{SecretShares: shares, SecretThreshold: threshold})
	}
	return c.barrier.RekeyUnsealKey(ctx, key, barrier.SealConfig{Type: "shamir", SecretShares: shares, SecretThreshold: threshold})
}

// wrapKey wraps key with s and returns the stored form.
func (c *Core) wrapKey(ctx context.Context, s seal.Seal, key []byte) ([]byte, error) {
	b, err := s.Wrap(ctx, key)
	if err != nil {
		return nil, err
	}
	return b.Encode()
}

// unwrapStoredKey reads the stored wrapped unseal key and unwraps it with
// s. The caller wipes the result.
func (c *Core) unwrapStoredKey(ctx context.Context, s seal.Seal) ([]byte, error) {
	raw, err := c.barrier.SealedKey(ctx)
	if err != nil {
		return nil, err
	}
	b, err := seal.DecodeBlob(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", barrier.SealedKeyPath, err)
	}
	key, err := s.Unwrap(ctx, b)
	if err != nil {
		return nil, err
	}
	if len(key) != barrier.KeySize {
		clear(key)
		return nil, fmt.Errorf("the %s seal returned a key of the wrong length", s.Type())
	}
	return key, nil
}

// migrateLocked opens the barrier with key (a threshold of the keys the
// operators hold, per keyCfg) and migrates the store as mode says. On
// return without error the barrier is unsealed under the new seal.
// stateLock is held for writing.
func (c *Core) migrateLocked(ctx context.Context, mode migrationMode, key []byte, keyCfg *barrier.SealConfig) error {
	switch mode {
	case migrateToAuto:
		if err := c.barrier.Unseal(ctx, key); err != nil {
			if errors.Is(err, barrier.ErrBadKey) {
				return logical.BadRequest("seal migration failed: the keys are not valid for this store; progress was reset")
			}
			return fmt.Errorf("seal migration: %w", err)
		}
		newKey := randomKeyBytes()
		defer clear(newKey)
		wrapped, err := c.wrapKey(ctx, c.cfg.Seal, newKey)
		if err != nil {
			c.barrier.Seal()
			return fmt.Errorf("seal migration: the %s seal: %w; the store is unchanged and still uses Shamir", c.cfg.Seal.Type(), err)
		}
		if err := c.barrier.MigrateToAuto(ctx, c.cfg.Seal.Type(), newKey, wrapped, key,
			barrier.SealConfig{SecretShares: keyCfg.SecretShares, SecretThreshold: keyCfg.SecretThreshold}); err != nil {
			c.barrier.Seal()
			return fmt.Errorf("seal migration: %w", err)
		}
		c.logger.Warn("seal migrated from shamir: the unseal keys are now recovery keys", "seal", c.cfg.Seal.Type())
		return nil
	case migrateToShamir, migrateAutoAuto:
		if err := c.barrier.VerifyRecoveryKey(ctx, key); err != nil {
			if errors.Is(err, barrier.ErrBadKey) {
				return logical.BadRequest("seal migration failed: the recovery keys are not valid for this store; progress was reset")
			}
			return fmt.Errorf("seal migration: %w", err)
		}
		old := c.cfg.MigrateFrom
		unsealKey, err := c.unwrapStoredKey(ctx, old)
		if err != nil {
			return fmt.Errorf("seal migration: the old %s seal: %w", old.Type(), err)
		}
		defer clear(unsealKey)
		if err := c.barrier.Unseal(ctx, unsealKey); err != nil {
			return fmt.Errorf("seal migration: %w", err)
		}
		if mode == migrateAutoAuto {
			wrapped, err := c.wrapKey(ctx, c.cfg.Seal, unsealKey)
			if err == nil {
				err = c.barrier.Rewrap(ctx, c.cfg.Seal.Type(), wrapped)
			}
			if err != nil {
				c.barrier.Seal()
				return fmt.Errorf("seal migration: the %s seal: %w; the store is unchanged", c.cfg.Seal.Type(), err)
			}
			c.logger.Warn("seal migrated", "from", old.Type(), "to", c.cfg.Seal.Type())
			return nil
		}
		if err := c.barrier.MigrateToShamir(ctx, key, barrier.SealConfig{SecretShares: keyCfg.SecretShares, SecretThreshold: keyCfg.SecretThreshold}); err != nil {
			c.barrier.Seal()
			return fmt.Errorf("seal migration: %w", err)
		}
		c.logger.Warn("seal migrated to shamir: the recovery keys are now unseal keys", "from", old.Type())
		return nil
	}
	return fmt.Errorf("seal migration: unknown mode %q", mode)
}

// StartAutoUnseal starts the loop that unseals an auto-sealed store by
// itself. It tries at once, then with backoff (1s doubling to 1m) while the
// seal cannot be reached, and again right after init; it ends once
// unsealed, when the configuration calls for a migration or does not match
// the store, or at Close. Without an auto seal it does nothing.
func (c *Core) StartAutoUnseal() {
	if c.cfg.Seal == nil {
		return
	}
	c.auto.mu.Lock()
	defer c.auto.mu.Unlock()
	if c.auto.started {
		return
	}
	c.auto.started = true
	c.auto.wg.Add(1)
	go c.autoUnsealLoop()
}

func (c *Core) autoUnsealLoop() {
	defer c.auto.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.auto.stop
		cancel()
	}()
	const first, most = time.Second, time.Minute
	backoff := first
	for {
		done, wait, err := c.tryAutoUnseal(ctx)
		c.setAutoUnsealError(err)
		if done {
			return
		}
		var timer <-chan time.Time
		if wait {
			// Not initialized: init here kicks the loop; init by another
			// node over shared storage is seen within the poll.
			backoff = first
			timer = time.After(uninitializedPoll)
		} else {
			c.logger.Error("auto-unseal failed; the server stays sealed and retries", "seal", c.cfg.Seal.Type(), "retry_in", backoff.String(), "err", err)
			timer = time.After(backoff)
			backoff = min(backoff*2, most)
		}
		select {
		case <-c.auto.stop:
			return
		case <-c.auto.kick:
		case <-timer:
		}
	}
}

// tryAutoUnseal makes one attempt. done: nothing more to do; wait: the
// store is not initialized yet (wait for init).
func (c *Core) tryAutoUnseal(ctx context.Context) (done, wait bool, err error) {
	init, err := c.barrier.Initialized(ctx)
	if err != nil {
		return false, false, err
	}
	if !init {
		return false, true, nil
	}
	if !c.Sealed() {
		return true, false, nil
	}
	switch mode, why := c.migration(ctx); mode {
	case migrateNone:
	case migrateMismatch:
		c.logger.Error("cannot auto-unseal: " + why)
		return true, false, &mismatchError{why}
	default:
		c.logger.Warn("seal migration configured: unseal with the keys and migrate=true", "migration", string(mode))
		return true, false, nil
	}
	key, err := c.unwrapStoredKey(ctx, c.cfg.Seal)
	if err != nil {
		return false, false, err
	}
	defer clear(key)
	c.stateLock.Lock()
	defer c.stateLock.Unlock()
	if !c.barrier.Sealed() {
		return true, false, nil
	}
	if err := c.barrier.Unseal(ctx, key); err != nil {
		// The seal answered but its key does not open the store: retrying
		// cannot help, and nothing weaker is tried.
		permanent := errors.Is(err, barrier.ErrBadKey) || errors.Is(err, barrier.ErrCorrupt)
		return permanent, false, fmt.Errorf("auto-unseal: %w", err)
	}
	if err := c.finishUnsealLocked(ctx); err != nil {
		return false, false, err
	}
	c.logger.Info("auto-unsealed", "seal", c.cfg.Seal.Type())
	return true, false, nil
}

// KickAutoUnseal makes the auto-unseal loop try at once (a raft node that
// just received the barrier entries of the cluster it joins).
func (c *Core) KickAutoUnseal() { c.kickAutoUnseal() }

func (c *Core) kickAutoUnseal() {
	select {
	case c.auto.kick <- struct{}{}:
	default:
	}
}

func (c *Core) stopAutoUnseal() {
	c.auto.once.Do(func() { close(c.auto.stop) })
	c.auto.wg.Wait()
}

// setAutoUnsealError records why the last attempt failed, for
// sys/seal-status. That endpoint answers anyone, so it carries no detail
// (no seal address, no HSM or server message): the log line has those.
func (c *Core) setAutoUnsealError(err error) {
	c.auto.mu.Lock()
	defer c.auto.mu.Unlock()
	c.auto.lastErr = ""
	var mismatch *mismatchError
	switch {
	case err == nil:
	case errors.As(err, &mismatch):
		c.auto.lastErr = mismatch.msg
	case errors.Is(err, barrier.ErrBadKey):
		c.auto.lastErr = fmt.Sprintf("the %s seal's key does not open this store; the server stays sealed (see the server log)", c.cfg.Seal.Type())
	default:
		c.auto.lastErr = fmt.Sprintf("the %s seal could not unwrap the unseal key; the server stays sealed and retries (see the server log for the cause)", c.cfg.Seal.Type())
	}
}

// mismatchError is a configuration that names no seal for the store.
type mismatchError struct{ msg string }

func (e *mismatchError) Error() string { return e.msg }

// autoUnsealError says why auto-unseal has not succeeded, or "".
func (c *Core) autoUnsealError() string {
	c.auto.mu.Lock()
	defer c.auto.mu.Unlock()
	return c.auto.lastErr
}
