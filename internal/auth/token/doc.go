// Package token owns Keyward's token store: creating service tokens, the
// per-request check of a token (expiry, bound CIDRs, use limits), renewal,
// revocation of whole parent/child trees with crash recovery, and the
// Vault-compatible auth/token/* endpoints.
//
// It stores only a keyed HMAC of each token, never the token itself, and it
// must never log or put a raw token in an error: logs and errors name
// accessors only.
package token
