// Package mask redacts secret values from a byte stream as it is written,
// the way `keyward run` cleans a child's stdout and stderr before they reach
// a CI log.
//
// It owns the list of forms a secret can take in output (raw, base64 at every
// byte alignment, base64 of base64, hex, URL, JSON, XML and shell escapes,
// JSON fields, PEM lines and line-ending variants) and a streaming
// multi-pattern matcher that catches a value split across writes or lines.
//
// The package must never write a secret (or any registered form of one) to
// the underlying writer, never put a value in an error or log message, and
// never hold output back for longer than Options.FlushDelay after the last
// write. When that delay forces it to release bytes that might begin a
// secret, it reveals at most the first 3 bytes of one registered form and
// masks the rest (see Options.FlushDelay). Masking is a safety net against
// accidents, not a defence against a job that wants to exfiltrate a secret
// (it can always transform the value in a way nobody registered).
package mask
