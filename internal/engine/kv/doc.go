// Package kv is the key/value secrets engine, compatible with Vault's KV
// version 1 and version 2 HTTP APIs. It owns the layout of secrets inside its
// mount's storage view and the versioning rules of KV v2 (check-and-set,
// soft delete, destroy, pruning, delete_version_after). It never checks
// policy (the core has authorised every request before it arrives) and never
// puts a secret value in an error, a log line or a response other than a read
// of that secret.
//
// # Storage layout
//
// KV v1 stores each secret as a JSON object directly at its path, so Storage.
// List on the path prefix answers LIST requests.
//
// KV v2 uses three key spaces in the mount's view:
//
//	config                     mount-wide settings (JSON)
//	meta/<path>                one record per secret: versions, custom metadata,
//	                           per-key settings (compact binary, see codec.go)
//	ver/<sha256(path)>/<n>     the data of version n (JSON object)
//
// LIST metadata/<dir>/ is a single Storage.List on meta/<dir>/. Version blobs
// are keyed by a hash of the path so that no secret path can collide with
// another's versions. A version write puts the new blob, the updated
// metadata and the deletion of pruned blobs in one logical.BatchStorage
// batch when the storage supports it; otherwise it writes the blob first,
// the metadata next and deletes pruned blobs last, so metadata never points
// at data that is missing. Mutations of one secret are serialised in
// process, which makes check-and-set exact on a single active node.
//
// A version's deletion time may lie in the future (delete_version_after);
// reads report it as Vault does, and undelete never clears a schedule that
// is still ahead, so no version escapes delete_version_after.
//
// # Upgrade from version 1
//
// A version 1 mount can become version 2 in place (Vault's `kv
// enable-versioning`): PrepareUpgrade refuses if a version 1 secret sits at
// "config" or under "meta/" or "ver/" (version 2 could not tell it from its
// own records), and otherwise writes the marker ver/upgrading. A version 2
// backend built over marked storage answers 503 with Vault's "Upgrading
// from non-versioned to versioned data" message until FinishUpgrade has
// turned every secret into version 1 of a version 2 secret, one batch per
// secret (blob, metadata, deletion of the old key). The marker goes last, so
// an interrupted upgrade resumes where it stopped, at the next call or the
// next start. Version 2 never goes back to version 1.
package kv
