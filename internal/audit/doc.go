// Package audit records every request and response that reaches the unsealed
// core as tamper-evident JSON lines on one or more devices (file, socket,
// syslog). It owns the device table, each device's HMAC key and Ed25519
// signing key (all stored behind the barrier), the hash chain and signed
// checkpoints, and the offline verifier and query filter used by the CLI.
//
// It must never write a client token, secret value or unseal share in
// clear: every string in request and response data, every token and (by
// default) every accessor is written as "hmac-sha256:<hex>" under the
// device's key. The exceptions are chosen by operators: a device running
// with log_raw (which the server configuration must allow), and the values
// under the keys a mount lists in audit_non_hmac_request_keys or
// audit_non_hmac_response_keys (logical.MountConfig), which are written
// readable and bounded. Tokens and accessors are never among them.
package audit
