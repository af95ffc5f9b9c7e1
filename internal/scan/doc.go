// Package scan finds credentials in files, git history, staged changes,
// archives and container images. It owns the built-in ruleset, the keyword
// pre-filter that keeps regular expressions off most of the input, the
// suppression of placeholders and low-entropy values, allowlists, baselines
// and the JSON, SARIF and text reports.
//
// Package scan never keeps, logs or prints a full secret: a Finding holds the
// matched value in a sensitive.String, reports show it redacted, and
// baselines store only a fingerprint hash.
package scan
