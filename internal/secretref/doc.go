// Package secretref owns what `keyward run`, `keyward env` and `keyward mask`
// need from the server: secret references (path#field@version), the
// committed keyward.yaml that lists them, fetching them (KV version 1 and 2,
// and any path that returns a lease), rendering templates with them, and the
// lifecycle of what a job obtained (renewing leases and its token, revoking
// them at the end).
//
// References and keyward.yaml hold no values. This package must never put a
// secret value in an error, a log message or a description: errors name the
// reference, the path or the field, and template errors are masked before
// they are returned.
package secretref
