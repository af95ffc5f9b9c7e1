// Package token owns Keyward's token store: creating service and batch
// tokens, the per-request check of a token (expiry, bound CIDRs, use
// limits, a live parent), renewal, revocation of whole parent/child trees
// with crash recovery, and the Vault-compatible auth/token/* endpoints.
//
// It stores only a keyed HMAC of each service token, never the token
// itself. Batch tokens are not stored at all: each is its own entry,
// sealed with AES-256-GCM under a keyring kept through the barrier
// (batch.go has the format). It must never log or put a raw token in an
// error: logs and errors name accessors only.
package token
