package seal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Seal wraps and unwraps a key with a key held outside the store.
// Implementations are safe for concurrent use.
type Seal interface {
	// Type is the seal's name in configuration and in sys/seal-status:
	// "transit" or "pkcs11".
	Type() string
	// Wrap encrypts plaintext (a key) and returns the Blob to store. It
	// does not retain or modify plaintext.
	Wrap(ctx context.Context, plaintext []byte) (*Blob, error)
	// Unwrap decrypts a Blob made by Wrap. The caller wipes the result.
	// A Blob of another seal type is refused.
	Unwrap(ctx context.Context, b *Blob) ([]byte, error)
	// Close releases connections and background work.
	Close() error
}

// Types are the auto seal types this build knows.
var Types = []string{"transit", "pkcs11"}

// ErrDamaged means a stored Blob does not decode.
var ErrDamaged = errors.New("sealed key entry is damaged")

const blobVersion = 1

// Blob is a wrapped key as stored. None of its fields is secret: the key is
// only readable by whoever holds the seal's key.
type Blob struct {
	Version    int    `json:"version"`
	Type       string `json:"type"`
	KeyID      string `json:"key_id"`
	Ciphertext []byte `json:"ciphertext"`
	Nonce      []byte `json:"nonce,omitempty"`
}

// Encode returns the stored form of b.
func (b *Blob) Encode() ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	return json.Marshal(b)
}

func (b *Blob) check() error {
	if b.Version != blobVersion {
		return fmt.Errorf("%w: version %d is not supported", ErrDamaged, b.Version)
	}
	known := false
	for _, t := range Types {
		known = known || b.Type == t
	}
	if !known {
		return fmt.Errorf("%w: seal type %q is not known", ErrDamaged, b.Type)
	}
	if len(b.Ciphertext) == 0 {
		return fmt.Errorf("%w: no ciphertext", ErrDamaged)
	}
	if len(b.KeyID) > 1024 {
		return fmt.Errorf("%w: key_id is too long", ErrDamaged)
	}
	return nil
}

// DecodeBlob parses a stored Blob. Anything but one well-formed object of
// a known version and type is an error wrapping ErrDamaged.
func DecodeBlob(raw []byte) (*Blob, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var b Blob
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%w: not a sealed key object", ErrDamaged)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrDamaged)
	}
	var rest json.RawMessage
	if err := dec.Decode(&rest); err == nil {
		return nil, fmt.Errorf("%w: trailing data", ErrDamaged)
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	return &b, nil
}

// checkType refuses a Blob made by another kind of seal.
func checkType(b *Blob, want string) error {
	if b == nil {
		return fmt.Errorf("%w: no blob", ErrDamaged)
	}
	if b.Type != want {
		return fmt.Errorf("unwrap: the stored key was wrapped by a %q seal, not %q", b.Type, want)
	}
	return nil
}
