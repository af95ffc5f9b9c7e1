// Package pki is a certificate authority with Vault's PKI API: CA keys are
// generated (crypto/rand) or imported and kept behind the barrier; roles
// bound the names, key types, usages and lifetimes of what issue/ROLE and
// sign/ROLE produce; revocations are published as full and delta CRLs and
// through an OCSP responder.
//
// The name checks (names.go) are small pure functions: a name is brought
// to the one form the certificate will carry (ASCII, lower case, A-labels,
// no trailing dot, no empty label) and only that form is compared and
// issued, so no spelling of a name can pass a check and be issued as
// something else. A role never issues a name outside what it allows.
//
// The engine never logs, and never puts in an error, a private key: a key
// leaves it only in the response of an "exported" generate or an issue,
// to the caller, and audit HMACs response values.
package pki
