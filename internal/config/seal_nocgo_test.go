//go:build !cgo

package config_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/config"
)

// In a CGO_ENABLED=0 build a pkcs11 block is a clear configuration error.
func TestPKCS11SealNeedsCgo(t *testing.T) {
	cfg, err := config.Parse(sealBase + `
seal "pkcs11" {
  lib = "/usr/lib/softhsm/libsofthsm2.so"
  slot = "0"
  pin = "1"
  key_label = "k"
}
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "built without cgo") {
		t.Fatalf("Validate() = %v, want the cgo error", err)
	}
}
