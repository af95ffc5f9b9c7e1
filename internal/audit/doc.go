// Package audit records every request and response that reaches the unsealed
// core as tamper-evident JSON lines on one or more devices (file, socket,
// syslog). It owns the device table, each device's HMAC key and Ed25519
// signing key (all stored behind the barrier), the hash chain and signed
// checkpoints, and the offline verifier and query filter used by the CLI.
//
// It must never write a client token, secret value or unseal share in
// clear: every string in request and response data, every token and (by
// default) every accessor is written as "hmac-sha256:<hex>" under the
// device's key. Unless a device runs with log_raw (which the server
// configuration must allow), the audit log holds nothing secret.
package audit
