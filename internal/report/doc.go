// Package report builds Keyward's lifecycle and compliance reports
// (sys/reports/...): secret age and last rotation, rotation overdue,
// secrets unread for N days, orphaned secrets, identities that can read
// production secrets, the dependency map of who read what, leases near
// their max TTL, and database static roles whose rotation failed.
//
// Its figures come from the stores (KV metadata, the policy store, auth
// roles, the lease manager, database static roles), read through Source
// without a token, and from the access index the watch hub keeps
// (watch.AccessIndex), never from the audit file. A report must never
// hold a secret value or a token: rows carry paths, names, times, counts
// and identity keys, and KV data is never read (only metadata/ is).
//
// Every report renders as JSON (columns and rows) and as CSV (RFC 4180,
// a header row, cells that a spreadsheet would run as a formula
// neutralised with a leading quote).
package report
