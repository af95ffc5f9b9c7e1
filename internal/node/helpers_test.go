package node_test

import (
	"encoding/hex"

	"github.com/keyward/keyward/internal/core"
)

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func decodeRoot(enc, otp string) (string, error) { return core.DecodeRootToken(enc, otp) }
