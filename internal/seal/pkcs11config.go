package seal

import (
	"errors"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/sensitive"
)

// PKCS11Config is a seal "pkcs11" block, with Vault's keys.
type PKCS11Config struct {
	Lib        string           // lib: path of the PKCS#11 module (.so)
	Slot       string           // slot: slot number (decimal or 0x hex); or
	TokenLabel string           // token_label: the token's label
	PIN        sensitive.String // pin (or KEYWARD_HSM_PIN / VAULT_HSM_PIN)
	KeyLabel   string           // key_label: label of the AES key
	Mechanism  string           // mechanism: CKM_AES_GCM (default), 0x1087 or 4231
	// GenerateKey (generate_key) creates a 256-bit AES key labelled
	// KeyLabel in the token when none exists.
	GenerateKey bool
}

// ckmAESGCM is CKM_AES_GCM, the only mechanism the seal uses.
const ckmAESGCM = 0x1087

// Validate reports every problem at once. It never names the PIN.
func (c PKCS11Config) Validate() error {
	var errs []error
	if c.Lib == "" {
		errs = append(errs, errors.New(`seal "pkcs11": lib is required (the PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so)`))
	}
	if c.Slot == "" && c.TokenLabel == "" {
		errs = append(errs, errors.New(`seal "pkcs11": slot or token_label is required`))
	}
	if c.Slot != "" {
		if _, err := c.slotNumber(); err != nil {
			errs = append(errs, errors.New(`seal "pkcs11": slot must be a whole number`))
		}
	}
	if c.PIN.Empty() {
		errs = append(errs, errors.New(`seal "pkcs11": pin is required (or set KEYWARD_HSM_PIN or VAULT_HSM_PIN)`))
	}
	if c.KeyLabel == "" {
		errs = append(errs, errors.New(`seal "pkcs11": key_label is required`))
	}
	if _, err := c.mechanism(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c PKCS11Config) slotNumber() (int, error) {
	n, err := strconv.ParseInt(c.Slot, 0, 64)
	if err != nil || n < 0 || n > 1<<32-1 {
		return 0, errors.New("bad slot")
	}
	return int(n), nil
}

// mechanism returns the configured mechanism; only AES-GCM is supported.
func (c PKCS11Config) mechanism() (uint, error) {
	m := strings.TrimSpace(c.Mechanism)
	if m == "" || strings.EqualFold(m, "CKM_AES_GCM") {
		return ckmAESGCM, nil
	}
	if n, err := strconv.ParseUint(m, 0, 32); err == nil && n == ckmAESGCM {
		return ckmAESGCM, nil
	}
	return 0, errors.New(`seal "pkcs11": mechanism must be CKM_AES_GCM (0x1087), the mechanism this seal uses for AES keys`)
}
