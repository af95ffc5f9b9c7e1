// Package mfa owns step-up multi-factor authentication: TOTP methods
// (Vault's identity/mfa/method/totp and the older name-addressed
// sys/mfa/method/totp/NAME), each entity's TOTP secret per method, login
// enforcements (identity/mfa/login-enforcement/NAME) and the checks the
// core runs with them: a login matching an enforcement is held until
// sys/mfa/validate (or an X-Vault-MFA header) supplies valid codes, and a
// request on a policy path listing mfa_methods must carry a fresh code.
//
// Secrets live behind the barrier (the storage view the core gives New)
// and are returned exactly once, by generate or admin-generate; this
// package never logs a secret, a code or an MFA request id, and its errors
// name methods and entities, never a value. Codes are checked in constant
// time (internal/auth/totp); a code is accepted once: the last accepted
// time step per (method, entity) is remembered and no code of that step or
// an earlier one passes again. Consecutive failures per (method, entity)
// lock the pair for LockoutDuration after max_validation_attempts.
//
// Held logins, freshness marks (per token accessor and method) and
// failure counters are in memory: they are lost when the server seals or
// restarts, which only ever asks for a new code. Forced-MFA marks
// (RequireMFA, set by containment) are stored behind the barrier.
package mfa
