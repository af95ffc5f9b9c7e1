// Package jwt is the JWT/OIDC auth method: CI jobs (GitHub Actions, GitLab
// CI), Kubernetes service accounts and other workloads log in with a token
// their platform signed, and get a short-lived Keyward token whose policies
// and metadata come from a role.
//
// It owns the mount's config (where signing keys come from), its roles (what
// a token must prove), the JWKS cache, the role lint and the approval of
// renewals (the role must still exist and admit the caller's address). Keys come only from
// the configured discovery document, JWKS URL or PEM keys, never from a
// token's own headers; it never logs or echoes a token, a claim value in an
// error, or a body fetched from an identity provider, and it never fetches
// from loopback, private or link-local addresses unless the config opts in.
package jwt
