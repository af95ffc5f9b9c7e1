package node

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/seal"
)

// withSeals builds the enabled seal and the one a migration leaves (a
// disabled block) into the core's configuration. It returns what Close must
// close.
func withSeals(cfg *config.Config, cc *core.Config, logger *slog.Logger) ([]seal.Seal, error) {
	var out []seal.Seal
	build := func(b *config.Seal) (seal.Seal, error) {
		if b == nil || b.Type == "shamir" {
			return nil, nil
		}
		var s seal.Seal
		var err error
		switch {
		case b.Transit != nil:
			s, err = seal.NewTransit(*b.Transit, logger)
		case b.PKCS11 != nil:
			s, err = seal.NewPKCS11(*b.PKCS11, logger)
		default:
			err = fmt.Errorf("seal %q: not supported", b.Type)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		return s, nil
	}
	var err error
	if cc.Seal, err = build(cfg.ActiveSeal()); err != nil {
		return nil, err
	}
	if cc.MigrateFrom, err = build(cfg.DisabledSeal()); err != nil {
		closeSeals(out)
		return nil, err
	}
	return out, nil
}

func closeSeals(seals []seal.Seal) error {
	var errs []error
	for _, s := range seals {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
