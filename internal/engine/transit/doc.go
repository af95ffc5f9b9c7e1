// Package transit is the transit secrets engine: encryption as a service
// over named, versioned keys that never leave the barrier. Paths, request
// fields, response shapes and the ciphertext format ("vault:vN:base64")
// follow Vault's transit engine, so Vault clients work unchanged.
//
// It serves aes256-gcm96 and chacha20-poly1305 keys (encrypt, decrypt,
// rewrap, datakey) and ed25519 and ecdsa-p256 keys (sign, verify), all with
// create, read, list, delete, config and rotate; hmac and verify with a
// separate HMAC key per version; batch_input; random bytes and hashes. Key material is stored only
// through the request's storage, which the barrier encrypts, and the
// engine logs nothing.
package transit
