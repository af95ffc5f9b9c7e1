// Package e2e holds end-to-end tests that run keyward as a real process:
// crash durability under kill -9, refusal to start on a damaged store, file
// modes under a permissive umask. It has no non-test code.
package e2e
