// Package raft is the replicated storage.Backend: hashicorp/raft with a log
// and stable store of ours on bbolt (raft.db), raft's file snapshot store
// (snapshots/), and a state machine that is itself a bbolt file (fsm.db).
// Nodes talk over mutual TLS 1.3 authenticated by a cluster CA (see NewCA,
// CA.Issue, NodeTLS). Like every backend it is untrusted: it only ever holds
// ciphertext from the barrier, and it never logs or inspects values — logs
// and errors name keys (shortened by storage.LogKey), indexes and nodes.
//
// # Writes and reads
//
// A write (Put, Delete, Batch) becomes one log entry: a versioned binary
// command (see encodeCommand) of at most Config.MaxEntrySize bytes, else
// ErrEntryTooLarge. Only the leader accepts writes; a follower returns a
// *NotLeaderError (wrapping ErrNotLeader) naming the leader, for a later
// forwarding layer. A write returns nil once the entry is committed by a
// quorum and applied to the leader's state machine. The state machine
// applies each batch of committed entries in one fsynced bbolt
// transaction, so a Batch is atomic on every node.
//
// Reads are served from the local state machine without a round trip, so
// a follower (or a leader that has just been deposed) may answer with data
// that lags the cluster. Linearizable reads on the active node (a leader
// lease or read-index check) are the next step's job, not this package's.
//
// # Durability and restarts
//
// raft.db is fsynced on every StoreLogs; fsm.db on every applied batch,
// together with the index of the last entry it applied. On start raft is
// told not to roll the state machine back to the newest snapshot
// (NoSnapshotRestoreOnStart): fsm.db is never older than a snapshot taken
// from it, and entries at or below its applied index are skipped when raft
// replays the log, so a restart never shows older data than it had. When
// fsm.db is older than the newest snapshot (deleted, or a restore was cut
// short) Open restores that snapshot first.
//
// A snapshot is the bbolt file copied in one read transaction, so it is
// consistent as of the index raft records for it. Restore (from the
// leader, or by RestoreSnapshot) spools the stream to a file, checks that
// it opens as a state machine file, and only then replaces fsm.db; a
// truncated or foreign stream leaves the data untouched.
package raft
