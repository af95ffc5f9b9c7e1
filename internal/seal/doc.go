// Package seal protects the barrier's key-encryption key with something
// outside the store, so a server can unseal itself at start: a transit key on
// another Keyward (or Vault) server, or an AES key inside a PKCS#11 HSM.
// Shamir's scheme, the default, is not a Seal: with it the operators hold
// the key (package barrier/shamir).
//
// # What a seal wraps
//
// The barrier keeps its root key (the key that decrypts the keyring)
// encrypted under a 32-byte unseal key. With Shamir that unseal key is split
// into the operators' shares. With an auto seal the unseal key is drawn at
// init, wrapped by the Seal, and stored as a Blob at barrier.SealedKeyPath;
// at start the server reads the Blob, asks the Seal to unwrap it, and
// unseals. Recovery keys (a separate Shamir-split key) authorise root token
// generation, rekey and seal migration; they never decrypt anything.
//
// # Blob
//
// A Blob is stored as JSON:
//
//	{"version":1,"type":"transit","key_id":"keyward-seal",
//	 "ciphertext":"<base64>","nonce":"<base64, pkcs11 only>"}
//
// DecodeBlob refuses unknown fields, other versions, unknown types, empty
// ciphertext and trailing data, so a damaged entry is reported as damaged
// and never handed to a seal.
//
// # Must never
//
// A Seal never logs, prints or returns in an error the plaintext it wraps
// or its own credentials (the transit token, the HSM PIN). A Seal that
// cannot be reached returns an error; the caller stays sealed and retries,
// and never falls back to a weaker protection.
package seal
