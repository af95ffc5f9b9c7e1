// Package ssh is the SSH secrets engine: a certificate authority that signs
// OpenSSH user and host certificates, with Vault's paths, request fields and
// response shapes (config/ca, public_key, roles/NAME, sign/ROLE,
// issue/ROLE), so Vault clients and scripts work unchanged. Certificates
// are built and signed with golang.org/x/crypto/ssh; keys come from
// crypto/rand.
//
// Only key_type=ca roles exist: Vault's one-time-password and dynamic-key
// roles are not implemented. A role never signs a principal it does not
// allow: user principals must equal an entry of allowed_users (or the role
// sets allowed_users to "*"), host principals must equal an entry of
// allowed_domains with allow_bare_domains, or end in "."+entry with
// allow_subdomains; no globs, no case folding, and a certificate without
// principals (valid for every user) is signed only when the role sets
// allow_empty_principals. Identity templates (allowed_users_template,
// default_user_template) are refused, because Keyward has no identity
// store to render them from.
//
// The CA's private key is stored only through the request's storage, which
// the barrier encrypts, and leaves the server never: config/ca returns the
// public key only. issue/ROLE returns a freshly generated private key to
// its caller and keeps no copy. The engine logs nothing, and its errors
// name fields and roles, never key material.
package ssh
