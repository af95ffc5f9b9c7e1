package transit

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

// AES key wrap with padding (KWP, RFC 5649), the mode Vault's BYOK import
// wraps the target key with. Neither the standard library nor
// golang.org/x/crypto provides it; this is the RFC's algorithm over
// crypto/aes, checked against the RFC's test vectors (and RFC 3394's for
// the inner wrapping function W).

// kwpMagic is the first half of KWP's alternative initial value.
var kwpMagic = [4]byte{0xa6, 0x59, 0x59, 0xa6}

// maxKWPInput bounds what wrapKWP and unwrapKWP accept; keys are far
// smaller, and the RFC's own limit is 2^32 bytes.
const maxKWPInput = 1 << 20

// errKWP is the one unwrap failure: which check failed is not told, so
// the error is no oracle.
var errKWP = errors.New("key unwrap failed")

// wrapKWP wraps key (1 byte or more) under kek (16, 24 or 32 bytes).
func wrapKWP(kek, key []byte) ([]byte, error) {
	if len(key) == 0 || len(key) > maxKWPInput {
		return nil, errors.New("key wrap: bad key length")
	}
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, errors.New("key wrap: bad key-encryption key")
	}
	var aiv [8]byte
	copy(aiv[:4], kwpMagic[:])
	binary.BigEndian.PutUint32(aiv[4:], uint32(len(key)))
	n := (len(key) + 7) / 8
	padded := make([]byte, 8*n)
	copy(padded, key)
	defer clear(padded)
	if n == 1 {
		out := make([]byte, 16)
		copy(out, aiv[:])
		copy(out[8:], padded)
		b.Encrypt(out, out)
		return out, nil
	}
	return w(b, aiv, padded), nil
}

// w is RFC 3394's wrapping function W with initial value iv over p (a
// multiple of 8 bytes, at least 16).
func w(b cipher.Block, iv [8]byte, p []byte) []byte {
	n := len(p) / 8
	out := make([]byte, 8+len(p))
	copy(out, iv[:])
	copy(out[8:], p)
	var buf [16]byte
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			copy(buf[:8], out[:8])
			copy(buf[8:], out[8*i:8*i+8])
			b.Encrypt(buf[:], buf[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(out[:8], binary.BigEndian.Uint64(buf[:8])^t)
			copy(out[8*i:], buf[8:])
		}
	}
	clear(buf[:])
	return out
}

// wInverse is W's inverse: it returns the initial value and the data
// blocks in one slice (out[:8] and out[8:]), overwriting nothing of c.
func wInverse(b cipher.Block, c []byte) []byte {
	n := len(c)/8 - 1
	out := make([]byte, len(c))
	copy(out, c)
	var buf [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(buf[:8], binary.BigEndian.Uint64(out[:8])^t)
			copy(buf[8:], out[8*i:8*i+8])
			b.Decrypt(buf[:], buf[:])
			copy(out[:8], buf[:8])
			copy(out[8*i:], buf[8:])
		}
	}
	clear(buf[:])
	return out
}

// unwrapKWP reverses wrapKWP, checking the initial value, the length
// indicator and the zero padding.
func unwrapKWP(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped) < 16 || len(wrapped)%8 != 0 || len(wrapped) > maxKWPInput+16 {
		return nil, errKWP
	}
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, errKWP
	}
	n := len(wrapped)/8 - 1
	var out []byte
	if n == 1 {
		out = make([]byte, 16)
		b.Decrypt(out, wrapped)
	} else {
		out = wInverse(b, wrapped)
	}
	mli := int(binary.BigEndian.Uint32(out[4:8]))
	ok := subtle.ConstantTimeCompare(out[:4], kwpMagic[:])
	if mli <= 8*(n-1) || mli > 8*n {
		ok = 0
	}
	if ok == 1 {
		var pad byte
		for _, c := range out[8+mli:] {
			pad |= c
		}
		ok &= subtle.ConstantTimeByteEq(pad, 0)
	}
	if ok != 1 {
		clear(out)
		return nil, errKWP
	}
	key := make([]byte, mli)
	copy(key, out[8:8+mli])
	clear(out)
	return key, nil
}
