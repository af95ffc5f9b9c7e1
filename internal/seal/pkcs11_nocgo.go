//go:build !cgo

package seal

import (
	"errors"
	"log/slog"
)

// PKCS11Supported reports whether this build has the pkcs11 seal (it needs
// cgo).
const PKCS11Supported = false

// NewPKCS11 fails: this binary was built with CGO_ENABLED=0, and the
// PKCS#11 module can only be loaded through cgo.
func NewPKCS11(cfg PKCS11Config, logger *slog.Logger) (Seal, error) {
	return nil, errors.New(`seal "pkcs11": this keyward binary was built without cgo (CGO_ENABLED=0) and cannot load a PKCS#11 module; use a build with cgo`)
}
