// Package barrier encrypts every value before it reaches storage and decrypts
// it on the way back, so the storage.Backend underneath only ever holds
// ciphertext. It owns the root key, the keyring and the seal state. It never
// logs key material or values, and never returns plaintext that failed
// authentication.
//
// # Key hierarchy
//
// An unseal key (32 bytes, split by the caller with package shamir) encrypts
// the root key; the root key encrypts the keyring; the keyring's newest term
// encrypts every other value. All three layers use AES-256-GCM.
//
// # Storage layout
//
// The barrier keeps three entries of its own under "core/":
//
//	core/seal-config  plaintext JSON {"type":"shamir","secret_shares":5,
//	                  "secret_threshold":3,"version":1}. Its presence is the
//	                  "initialized" sentinel; it is written last, in the same
//	                  atomic batch as the two entries below.
//	core/root-key     16-byte unseal-key check || envelope of the 32-byte root
//	                  key under the unseal key (term 0). The check is the first
//	                  16 bytes of HMAC-SHA256(unseal key, "keyward unseal key
//	                  check v1" || 0x00 || path); it tells a wrong key
//	                  (ErrBadKey) from a damaged entry (ErrCorrupt) and reveals
//	                  nothing a 256-bit random key does not already protect.
//	core/keyring      envelope of the keyring JSON under the root key (term 0):
//	                  {"version":1,"terms":[{"term":1,"key":"<base64>",
//	                  "install_time":"<RFC 3339>"}]}.
//
// Every other key holds an envelope under a keyring term. These three paths
// are unreachable through the data plane (Get, Put, Delete, Batch fail with
// ErrReservedPath and List hides them).
//
// # Envelope
//
//	offset 0   1 byte   version (1)
//	offset 1   4 bytes  key term, big-endian (0 for root-key and keyring)
//	offset 5  12 bytes  random nonce from crypto/rand
//	offset 17  ...      GCM ciphertext followed by its 16-byte tag
//
// The additional authenticated data is version || term || storage path, so a
// ciphertext copied to another path, or with its version or term changed,
// fails to open with an error wrapping ErrIntegrity. Random 96-bit nonces
// keep the collision risk negligible well below 2^32 encryptions per term;
// KeyStatus reports the count so operators rotate in time.
//
// # Threat model
//
// The backend is untrusted for confidentiality and integrity of individual
// values. Rolling the whole store, or a single entry, back to an older
// version written by this barrier at the same path is not detected: as in
// Vault, rollback protection is out of scope.
//
// # Memory
//
// Seal zeroes the root key and every keyring term and drops the cached
// cipher.AEAD values. Go gives no way to wipe the AES key schedule inside
// crypto/aes, nor copies the runtime made, so this is best effort.
package barrier
