// Package identity is the identity store: entities (one per person or
// workload across auth methods), their aliases (the name an auth mount knows
// the caller by), internal groups (members set by an operator) and external
// groups (members set at login from an auth method's group names, through
// group aliases). It serves Vault's identity/ routes and answers the core's
// two questions: which entity does this login belong to (Login), and which
// policies and template values does this entity have now (Resolve).
//
// Everything is kept in memory, indexed by id, by name and by (mount
// accessor, alias name), and written through to a barrier view on every
// change, so a login costs map lookups and no storage read. Resolve is
// cached per entity and the cache is dropped on every identity write (a
// generation counter), so a group change or a disabled entity takes effect
// on the next request without a new login.
//
// Group membership is transitive through member_group_ids (a member group's
// entities are members of the group), with cycles refused on write and
// guarded against on read. The store never logs metadata values: log lines
// name ids.
package identity
