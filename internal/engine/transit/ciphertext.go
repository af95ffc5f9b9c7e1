package transit

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

// ciphertextPrefix starts every ciphertext, as in Vault.
const ciphertextPrefix = "vault:v"

// formatCiphertext renders a sealed blob (nonce followed by the AEAD
// output) under key version v.
func formatCiphertext(v int, blob []byte) string {
	return ciphertextPrefix + strconv.Itoa(v) + ":" + base64.StdEncoding.EncodeToString(blob)
}

// parseCiphertext splits "vault:vN:base64" into N and the decoded blob.
// Errors never echo the input.
func parseCiphertext(s string) (version int, blob []byte, err error) {
	version, enc, err := splitVersioned(s)
	if err != nil {
		return 0, nil, err
	}
	blob, err = base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return 0, nil, logical.BadRequest("invalid ciphertext: could not decode base64")
	}
	return version, blob, nil
}

// splitVersioned splits "vault:vN:rest" into N and rest.
func splitVersioned(s string) (version int, rest string, err error) {
	rest, ok := strings.CutPrefix(s, ciphertextPrefix)
	if !ok {
		return 0, "", logical.BadRequest("invalid ciphertext: no prefix")
	}
	num, enc, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, "", logical.BadRequest("invalid ciphertext: wrong number of fields")
	}
	if num == "" || len(num) > 9 || strings.TrimLeft(num, "0123456789") != "" {
		return 0, "", logical.BadRequest("invalid ciphertext: bad key version")
	}
	version, _ = strconv.Atoi(num)
	if version < 1 {
		return 0, "", logical.BadRequest("invalid ciphertext: bad key version")
	}
	return version, enc, nil
}
