package barrier

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

const (
	envelopeVersion = 1
	headerSize      = 5 // version + term
	nonceSize       = 12
	tagSize         = 16
	minEnvelopeSize = headerSize + nonceSize + tagSize
)

// integrityError reports a value that failed to open. It names the path and
// what was wrong, never any byte of the value.
type integrityError struct {
	path   string
	reason string
	// auth is true when the envelope was well formed but the GCM tag did not
	// verify under the key its term names.
	auth bool
}

func (e *integrityError) Error() string { return "decrypt " + e.path + ": " + e.reason }

func (e *integrityError) Is(target error) bool { return target == ErrIntegrity }

// newAEAD returns AES-256-GCM for a 32-byte key. The key is not retained
// beyond the cipher's own key schedule.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}

// additionalData returns version || term || path.
func additionalData(header []byte, path string) []byte {
	aad := make([]byte, 0, headerSize+len(path))
	aad = append(aad, header[:headerSize]...)
	return append(aad, path...)
}

// sealEnvelope encrypts plaintext for path under aead, labelled with term.
func sealEnvelope(aead cipher.AEAD, term uint32, path string, plaintext []byte) []byte {
	out := make([]byte, headerSize+nonceSize, headerSize+nonceSize+len(plaintext)+tagSize)
	out[0] = envelopeVersion
	binary.BigEndian.PutUint32(out[1:headerSize], term)
	// crypto/rand.Read never returns an error; it crashes the program if the
	// kernel cannot supply randomness.
	rand.Read(out[headerSize:])
	aad := additionalData(out, path)
	return aead.Seal(out, out[headerSize:headerSize+nonceSize], plaintext, aad)
}

// openEnvelope authenticates and decrypts env read from path. aeadFor returns
// the AEAD for a term, or nil when the term is unknown. Errors are
// *integrityError. A successful empty plaintext is returned as a non-nil,
// empty slice.
func openEnvelope(aeadFor func(term uint32) cipher.AEAD, path string, env []byte) ([]byte, error) {
	switch {
	case len(env) == 0:
		return nil, &integrityError{path: path, reason: "value is empty"}
	case env[0] != envelopeVersion:
		return nil, &integrityError{path: path, reason: fmt.Sprintf("unsupported envelope version %d", env[0])}
	case len(env) < minEnvelopeSize:
		return nil, &integrityError{path: path, reason: fmt.Sprintf("value is truncated (%d bytes, need at least %d)", len(env), minEnvelopeSize)}
	}
	term := binary.BigEndian.Uint32(env[1:headerSize])
	aead := aeadFor(term)
	if aead == nil {
		return nil, &integrityError{path: path, reason: fmt.Sprintf("unknown key term %d", term)}
	}
	aad := additionalData(env, path)
	pt, err := aead.Open(nil, env[headerSize:headerSize+nonceSize], env[headerSize+nonceSize:], aad)
	if err != nil {
		return nil, &integrityError{path: path, reason: "message authentication failed", auth: true}
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}
