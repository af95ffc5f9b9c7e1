package transit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"

	"github.com/keyward/keyward/internal/logical"
)

// maxRandomBytes caps one random request.
const maxRandomBytes = 128 * 1024

func randomRoute(pattern string) logical.Route {
	return logical.Route{
		Pattern: pattern,
		Ops:     map[logical.Operation]logical.Handler{logical.UpdateOperation: random},
		Fields: logical.Fields{
			{Name: "urlbytes", InPath: true, Description: "The number of bytes (overrides bytes)."},
			{Name: "bytes", Type: logical.TypeInt, Default: 32, Description: "The number of bytes."},
			{Name: "format", Type: logical.TypeString, Default: "base64", Description: "base64 or hex."},
		},
		Synopsis: "Random bytes from crypto/rand.",
	}
}

func hashRoute(pattern string) logical.Route {
	return logical.Route{
		Pattern: pattern,
		Ops:     map[logical.Operation]logical.Handler{logical.UpdateOperation: hashInput},
		Fields: logical.Fields{
			{Name: "urlalgorithm", InPath: true, Description: "The algorithm (overrides algorithm)."},
			{Name: "input", Type: logical.TypeString, Description: "Base64 of the data to hash."},
			{Name: "algorithm", Type: logical.TypeString, Default: "sha2-256", Description: "sha2-224, sha2-256, sha2-384, sha2-512, sha3-224, sha3-256, sha3-384 or sha3-512."},
			{Name: "format", Type: logical.TypeString, Default: "hex", Description: "hex or base64."},
		},
		Synopsis: "Hash data.",
	}
}

func encode(format string, b []byte) (string, error) {
	switch format {
	case "base64":
		return base64.StdEncoding.EncodeToString(b), nil
	case "hex":
		return hex.EncodeToString(b), nil
	}
	return "", logical.BadRequest("unsupported encoding format %q: use base64 or hex", format)
}

func random(_ context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "bytes", "format"); err != nil {
		return nil, err
	}
	n, _, err := logical.Int(req.Data, "bytes")
	if err != nil {
		return nil, err
	}
	if s := p["urlbytes"]; s != "" {
		if n, err = strconv.Atoi(s); err != nil {
			return nil, logical.BadRequest("the number of bytes in the path is not an integer")
		}
	}
	if n == 0 {
		n = 32
	}
	if n < 1 || n > maxRandomBytes {
		return nil, logical.BadRequest("bytes must be between 1 and %d", maxRandomBytes)
	}
	format, _, err := logical.Str(req.Data, "format")
	if err != nil {
		return nil, err
	}
	if format == "" {
		format = "base64"
	}
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("transit: random: %w", err)
	}
	out, err := encode(format, buf)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"random_bytes": out}}, nil
}

func hashInput(_ context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "input", "algorithm", "format"); err != nil {
		return nil, err
	}
	alg, _, err := logical.Str(req.Data, "algorithm")
	if err != nil {
		return nil, err
	}
	if s := p["urlalgorithm"]; s != "" {
		alg = s
	}
	newHash, err := hashFunc(alg)
	if err != nil {
		return nil, err
	}
	h := newHash()
	in, ok, err := bytesField(req.Data, "input")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, logical.BadRequest("missing input to hash")
	}
	h.Write(in)
	format, _, err := logical.Str(req.Data, "format")
	if err != nil {
		return nil, err
	}
	if format == "" {
		format = "hex"
	}
	out, err := encode(format, h.Sum(nil))
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"sum": out}}, nil
}

// hashFunc returns the constructor of the named hash; empty is sha2-256.
func hashFunc(alg string) (func() hash.Hash, error) {
	switch alg {
	case "", "sha2-256":
		return sha256.New, nil
	case "sha2-224":
		return sha256.New224, nil
	case "sha2-384":
		return sha512.New384, nil
	case "sha2-512":
		return sha512.New, nil
	case "sha3-224":
		return func() hash.Hash { return sha3.New224() }, nil
	case "sha3-256":
		return func() hash.Hash { return sha3.New256() }, nil
	case "sha3-384":
		return func() hash.Hash { return sha3.New384() }, nil
	case "sha3-512":
		return func() hash.Hash { return sha3.New512() }, nil
	}
	return nil, logical.BadRequest("unsupported hash algorithm %q", alg)
}
