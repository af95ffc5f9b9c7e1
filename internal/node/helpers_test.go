package node_test

import (
	"bufio"
	"encoding/hex"
	"io"

	"github.com/keyward/keyward/internal/core"
)

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func decodeRoot(enc, otp string) (string, error) { return core.DecodeRootToken(enc, otp) }

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
