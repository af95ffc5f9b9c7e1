// Package filecrypt encrypts the values of configuration files (YAML, JSON,
// dotenv, INI) one by one, leaving keys, comments and structure readable
// for review, and encrypts any other file whole. It is what `keyward
// encrypt`, `decrypt`, `edit`, `rotate`, `updatekeys`, the git diff
// textconv and the git merge driver run. It never writes plaintext to disk
// and never puts a value, a data key or a share in an error: errors name
// the file and the value's path.
//
// # Keys
//
// Each file has its own random 256-bit data key. HKDF-SHA256 (no salt)
// derives three keys from it, with info "keyward filecrypt v1 value key",
// "... nonce key" and "... mac key".
//
// The data key is wrapped for one or more key groups. A group lists keys:
// age recipients (filippo.io/age, armored) and transit keys of a Keyward or
// Vault server (address, mount, key name; POST MOUNT/encrypt/KEY and
// MOUNT/decrypt/KEY with the caller's token). Any one key of a group
// unwraps the group's share. With several groups and a threshold T > 1 the
// data key is split with Shamir's scheme (internal/barrier/shamir), one
// share per group, and any T groups recover it; otherwise every group holds
// the whole data key.
//
// # Values
//
// A value at path P (a JSON array of mapping keys and sequence indexes,
// such as ["database","password"] or ["hosts",0]; dotenv ["NAME"], INI
// ["section","key"], a whole file ["data"]) of type TYPE (str, int, float,
// bool, bytes) is encrypted with AES-256-GCM under the value key with
//
//	ad    = "keyward filecrypt v1" 0x00 P 0x00 TYPE
//	nonce = HMAC-SHA256(nonce key, uint64be(len(ad)) || ad || plaintext)[:12]
//
// and stored as ENC[KW1,data:B64,iv:B64,tag:B64,type:TYPE] (standard
// base64). The path in the additional data makes a value copied to another
// key fail to decrypt. The synthetic nonce makes encryption deterministic:
// the same value at the same path under the same data key always gives the
// same ciphertext, so re-encrypting an edited file changes only the lines
// of the values that changed, and git diffs and merges work per value.
// The nonce only repeats when path, type and plaintext all repeat, and then
// the whole ciphertext repeats: what leaks is equality of a value with its
// earlier versions at the same path, which is the point. Values with keys
// ending in unencrypted_suffix (default "_unencrypted"), or, when
// encrypted_regex is set, not below a key matching it, stay in clear. A
// Kubernetes Secret manifest (apiVersion v1, kind Secret) encrypts only
// data and stringData. YAML nulls stay in clear, and so do scalars with a
// custom tag (CloudFormation's !Ref): encrypting them would lose the tag.
// Their tag and value count in the MAC.
//
// # Metadata and MAC
//
// The file carries its metadata: a top-level "keyward" mapping in YAML and
// JSON (the key is reserved), a "# keyward: {json}" comment line in dotenv
// and INI files, and {"data": ENC[...], "keyward": {...}} for whole files.
// It holds the version (1), the selection settings, the threshold, the
// groups with their wrapped shares, and the MAC:
//
//	mac = HMAC-SHA256(mac key, fields) with fields, each uint64be-length-prefixed:
//	      "keyward filecrypt v1 mac", encrypted_regex, unencrypted_suffix, then for
//	      every value sorted by P: P, TYPE 0x00 stored value (ciphertext, or the
//	      plaintext of a value left in clear)
//
// The MAC depends only on the values, not on their order or on other
// metadata, so whoever can decrypt recomputes it after a merge (Merge, the
// merge driver) instead of two branches conflicting over it. Swapping the
// key groups for others does not help an attacker: another data key gives
// another MAC key. The MAC is checked before any value is decrypted.
//
// # Limits
//
// The MAC binds the values to the data key, not to an author: age
// recipients are public, so anyone can write a whole new file, under a new
// data key wrapped for the same recipients, that decrypts cleanly. Review
// who changed an encrypted file as for any other file (signed commits,
// protected branches); a transit-only file can be written only by tokens
// allowed to use transit/encrypt/KEY. Data keys and plaintext live in Go
// memory, which is not wiped after use.
//
// YAML files must be one document whose top level is a mapping; the
// original quoting style of YAML strings is not kept (types are), and the
// file is written with two-space indentation. JSON is written with
// two-space indentation. Merges of sequences work by index; an element
// removed on one side and changed on the other is a conflict.
package filecrypt
