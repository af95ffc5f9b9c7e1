// Package database is the database secrets engine: it creates a database
// user per lease (dynamic roles), rotates the passwords of long-lived users
// (static roles, optionally two users in turn), and rotates its own admin
// password, for PostgreSQL (pgx), MySQL/MariaDB and Redis ACL users.
//
// Statement placeholders are quoted for the place they appear in, so a
// hostile role or user name can never end a quote or a statement. The
// engine never logs, and never puts in an error, a password or a rendered
// statement; database errors are reduced to their class (SQLSTATE, error
// number).
package database
