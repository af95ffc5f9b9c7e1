package core

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Automatic keyring rotation, as Vault's and OpenBao's sys/rotate/config:
// the active term is replaced once it has encrypted max_operations values
// or, when interval is set, once it is older than interval.
const (
	rotationConfigPath = "core/keyring-rotation"
	// maxRotationOperations is Vault's default and ceiling (about 0.9 *
	// 2^32): random 96-bit GCM nonces stay far from collisions below it.
	maxRotationOperations = 3_865_470_566
	minRotationOperations = 1_000_000
	minRotationInterval   = 24 * time.Hour
	// rotationCheckEvery is how often the unsealed core checks whether the
	// keyring is due.
	rotationCheckEvery = time.Minute
)

// rotationConfig is stored behind the barrier at rotationConfigPath.
type rotationConfig struct {
	MaxOperations int64         `json:"max_operations"`
	Interval      time.Duration `json:"interval"`
	Disabled      bool          `json:"disabled"`
}

// rotationLimits bound what sys/rotate/config accepts; tests lower them.
type rotationLimits struct {
	minOperations int64
	minInterval   time.Duration
}

var defaultRotationLimits = rotationLimits{minOperations: minRotationOperations, minInterval: minRotationInterval}

func (c *Core) loadRotationConfig(ctx context.Context) (rotationConfig, error) {
	cfg := rotationConfig{MaxOperations: maxRotationOperations}
	raw, err := c.barrier.Get(ctx, rotationConfigPath)
	if err != nil {
		return cfg, fmt.Errorf("read keyring rotation config: %w", err)
	}
	if raw == nil {
		return cfg, nil
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, fmt.Errorf("read keyring rotation config: %s is not valid JSON", rotationConfigPath)
	}
	return cfg, nil
}

// rotationConfigReq serves GET and PUT sys/rotate/config (and its alias
// sys/rotate/keyring/config).
func (c *Core) rotationConfigReq(ctx context.Context, req *logical.Request) (map[string]any, error) {
	cfg, err := c.loadRotationConfig(ctx)
	if err != nil {
		return nil, err
	}
	switch req.Operation {
	case logical.ReadOperation:
		data := map[string]any{"max_operations": cfg.MaxOperations, "enabled": !cfg.Disabled, "interval": 0}
		if cfg.Interval > 0 {
			data["interval"] = cfg.Interval.String()
		}
		return data, nil
	case logical.UpdateOperation, logical.CreateOperation:
	default:
		return nil, logical.ErrUnsupportedOperation
	}
	if err := logical.UnknownFields(req.Data, "max_operations", "interval", "enabled"); err != nil {
		return nil, err
	}
	if v, ok := req.Data["max_operations"]; ok && v != nil {
		n, err := int64Field(v)
		if err != nil {
			return nil, err
		}
		cfg.MaxOperations = n
	}
	if d, ok, err := logical.Duration(req.Data, "interval"); err != nil {
		return nil, err
	} else if ok {
		cfg.Interval = d
	}
	if on, ok, err := logical.Bool(req.Data, "enabled"); err != nil {
		return nil, err
	} else if ok {
		cfg.Disabled = !on
	}
	lim := c.rotationLimits
	if cfg.MaxOperations < lim.minOperations || cfg.MaxOperations > maxRotationOperations {
		return nil, logical.BadRequest("max_operations must be in the range [%d,%d]", lim.minOperations, int64(maxRotationOperations))
	}
	if cfg.Interval != 0 && cfg.Interval < lim.minInterval {
		return nil, logical.BadRequest("interval must be 0 (off) or at least %s", lim.minInterval)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.barrier.Put(ctx, rotationConfigPath, raw); err != nil {
		return nil, fmt.Errorf("write keyring rotation config: %w", err)
	}
	c.logger.Info("keyring rotation configured", "max_operations", cfg.MaxOperations, "interval", cfg.Interval.String(),
		"enabled", !cfg.Disabled, "accessor", tokenAccessor(req))
	return nil, nil
}

// int64Field reads max_operations, which can exceed what logical.Int takes.
func int64Field(v any) (int64, error) {
	bad := logical.BadRequest("field \"max_operations\": expected an integer")
	switch t := v.(type) {
	case json.Number:
		n, err := t.Int64()
		if err != nil {
			return 0, bad
		}
		return n, nil
	case float64:
		if t != float64(int64(t)) {
			return 0, bad
		}
		return int64(t), nil
	case int:
		return int64(t), nil
	case int64:
		return t, nil
	case string:
		var n int64
		if _, err := fmt.Sscan(t, &n); err != nil || fmt.Sprint(n) != t {
			return 0, bad
		}
		return n, nil
	}
	return 0, bad
}

// checkKeyringRotation rotates the keyring when the rotation config says
// it is due, and reports whether it did. The encryption count is the
// barrier's since this unseal or the last rotation (KeyStatus); the age is
// the active term's install time against the core's clock.
func (c *Core) checkKeyringRotation(ctx context.Context) (bool, error) {
	cfg, err := c.loadRotationConfig(ctx)
	if err != nil || cfg.Disabled {
		return false, err
	}
	term, installed, encryptions := c.barrier.KeyStatus()
	if term == 0 {
		return false, nil // sealed
	}
	reason := ""
	switch {
	case cfg.MaxOperations > 0 && encryptions >= uint64(cfg.MaxOperations):
		reason = "max_operations"
	case cfg.Interval > 0 && c.now().Sub(installed) >= cfg.Interval:
		reason = "interval"
	default:
		return false, nil
	}
	next, err := c.barrier.Rotate(ctx)
	if err != nil {
		return false, fmt.Errorf("automatic keyring rotation: %w", err)
	}
	c.logger.Info("keyring rotated automatically", "term", next, "reason", reason, "encryptions", encryptions)
	return true, nil
}

// runKeyringRotation checks the rotation config every rotationCheckEvery
// until ctx ends (the core seals).
func (c *Core) runKeyringRotation(ctx context.Context) {
	t := time.NewTicker(rotationCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.checkKeyringRotation(ctx); err != nil && ctx.Err() == nil {
				c.logger.Error("keyring rotation check", "err", err)
			}
		}
	}
}
