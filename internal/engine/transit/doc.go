// Package transit is the transit secrets engine: encryption as a service
// over named, versioned keys that never leave the barrier unless their
// flags allow it. Paths, request fields, response shapes and the
// ciphertext format ("vault:vN:base64") follow Vault's transit engine, so
// Vault clients work unchanged.
//
// It serves symmetric keys (aes256-gcm96, chacha20-poly1305; optionally
// derived per context with HKDF-SHA256, and convergent), RSA keys (sign,
// verify, RSA-OAEP encryption), ECDSA and ed25519 keys (sign, verify) and
// hmac keys, with create, read, list, delete, config, rotate, trim and
// auto-rotation; hmac and verify with a separate HMAC key per version;
// batch_input with per-item errors; random bytes and hashes. Key material
// is stored only through the request's storage, which the barrier
// encrypts; it leaves only through export and backup, which the key's
// exportable and allow_plaintext_backup flags gate. The engine logs
// nothing, and its errors never carry key material or plaintext.
package transit
