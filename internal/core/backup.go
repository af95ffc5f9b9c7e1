package core

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/keyward/keyward/internal/backup"
	"github.com/keyward/keyward/internal/logical"
)

// snapshotter is a storage backend that can stream a consistent copy of
// itself while serving (bolt.Store); found by type assertion.
type snapshotter interface {
	Snapshot(ctx context.Context, fn func(size int64, data io.WriterTo) error) error
}

// backupReq serves sys/storage/backup: a backup.Write stream of the
// physical store. Everything in it is barrier ciphertext, as the store
// holds it. The snapshot begins when the body is written, after the
// pipeline has checked sudo and audited the request; the audit log never
// sees the body.
func (c *Core) backupReq(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	snap, ok := c.phys.(snapshotter)
	if !ok {
		return nil, logical.BadRequest("a storage backup needs bolt or raft storage; this server uses %q", c.cfg.StorageType)
	}
	if req.WrapTTL > 0 {
		return nil, logical.BadRequest("a backup cannot be response-wrapped")
	}
	h := backup.Header{StorageType: c.cfg.StorageType}
	if id := c.clusterID.Load(); id != nil {
		h.ClusterID = *id
	}
	h.KeyTerm, _, _ = c.barrier.KeyStatus()
	logger := c.logger
	if _, raft := c.phys.(snapshotRestorer); raft || req.Path == "storage/raft/snapshot" {
		if !raft {
			return nil, logical.BadRequest("sys/storage/raft/snapshot needs raft storage; this server uses %q (use sys/storage/backup)", c.cfg.StorageType)
		}
		return &logical.Response{
			Status:      http.StatusOK,
			ContentType: "application/octet-stream",
			Stream: func(w io.Writer) error {
				n, err := c.WriteRaftSnapshot(context.WithoutCancel(ctx), w)
				if err == nil {
					logger.Info("raft snapshot streamed", "request_id", req.ID, "bytes", n)
				}
				return err
			},
		}, nil
	}
	return &logical.Response{
		Status:      http.StatusOK,
		ContentType: "application/octet-stream",
		Stream: func(w io.Writer) error {
			// The pipeline's context may end when the handler returns; a
			// client that goes away fails the writes instead.
			return snap.Snapshot(context.WithoutCancel(ctx), func(size int64, data io.WriterTo) error {
				h.Created = c.now().UTC()
				digest, err := backup.Write(w, h, size, data)
				if err == nil {
					logger.Info("backup streamed", "request_id", req.ID, "bytes", size, "sha256", hex.EncodeToString(digest))
				}
				return err
			})
		},
	}, nil
}

// snapshotRestorer is a storage backend that can replace its data with a
// snapshot while serving (raft.Store).
type snapshotRestorer interface {
	RestoreSnapshot(r io.Reader) error
}

// restoreReq serves sys/storage/raft/snapshot (update) and, with force,
// snapshot-force: the body is a snapshot stream from GET
// sys/storage/raft/snapshot. It is checked whole (framing, hash, the
// state machine file) before anything changes, so a cut or altered stream
// leaves the cluster as it was. A snapshot of another cluster is refused
// unless forced.
//
// Restoring a snapshot of this cluster keeps the keyring: the node holds
// every term it ever had, so values under older terms decrypt, and it then
// rotates, which stores the whole keyring again (the snapshot's copy may
// lack the newest terms). A forced snapshot of another cluster brings that
// cluster's keys: the node seals, and it must be unsealed with them.
func (c *Core) restoreReq(force bool) logical.Handler {
	return func(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
		rs, ok := c.phys.(snapshotRestorer)
		if !ok {
			return nil, logical.BadRequest("a snapshot restore needs raft storage; this server uses %q (restore a bolt backup offline with keyward operator backup restore)", c.cfg.StorageType)
		}
		if req.Body == nil {
			return nil, logical.BadRequest("the snapshot is the request body")
		}
		open := func(b []byte) ([]byte, error) { return c.barrier.Decrypt(backup.SealedSumsPath, b) }
		br, err := backup.NewSnapshotReader(req.Body, open)
		if err != nil {
			if errors.Is(err, backup.ErrCorrupt) {
				return nil, logical.BadRequest("not a Keyward raft snapshot, or cut short: nothing was restored")
			}
			return nil, logical.BadRequest("%v", err)
		}
		if br.Header.StorageType != "raft" {
			return nil, logical.BadRequest("this is a snapshot of %q storage, not raft", br.Header.StorageType)
		}
		ours := c.clusterIDOrEmpty()
		if force {
			br.AllowForeign()
		} else if br.Header.ClusterID != ours {
			return nil, logical.BadRequest("the snapshot is of cluster %q, not this cluster (%q): nothing was restored; to replace this cluster's data with another cluster's, use sys/storage/raft/snapshot-force (operator raft snapshot restore -force)", br.Header.ClusterID, ours)
		}
		if err := rs.RestoreSnapshot(br); err != nil {
			switch {
			case errors.Is(err, backup.ErrForeign):
				return nil, logical.BadRequest("the snapshot was not sealed by this cluster's keyring (another cluster's, or altered): nothing was restored; use snapshot-force only to replace this cluster's data with another cluster's")
			case errors.Is(err, backup.ErrCorrupt):
				return nil, logical.BadRequest("the snapshot is corrupt or truncated: nothing was restored")
			}
			return nil, fmt.Errorf("restore snapshot: %w", err)
		}
		foreign := !br.Sealed
		c.logger.Info("snapshot restored", "request_id", req.ID, "bytes", br.Header.Size, "sha256", br.Digest(), "foreign", foreign)
		if foreign {
			go c.Seal() // after this request lets go of the state lock
			return &logical.Response{Data: map[string]any{"sealed": true}, Warnings: []string{
				"the snapshot came from another cluster: this node is sealing; unseal every node with that cluster's unseal keys"}}, nil
		}
		if _, err := c.barrier.Rotate(ctx); err != nil {
			return nil, fmt.Errorf("snapshot restored, but storing the keyring failed (rotate the keyring now): %w", err)
		}
		// The request path holds stateLock for reading: c.ha is stable.
		// The reload waits for this request to end.
		if r := c.ha; r != nil {
			select {
			case r.reload <- struct{}{}:
			default:
			}
		}
		return nil, nil
	}
}

// WriteRaftSnapshot writes a raft snapshot stream (backup.WriteSnapshot)
// of the storage to w and returns the state's size. The storage must be
// raft and the core unsealed (the sums are sealed by the barrier).
func (c *Core) WriteRaftSnapshot(ctx context.Context, w io.Writer) (int64, error) {
	snap, ok := c.phys.(snapshotter)
	if _, raft := c.phys.(snapshotRestorer); !ok || !raft {
		return 0, logical.BadRequest("a raft snapshot needs raft storage; this server uses %q", c.cfg.StorageType)
	}
	h := backup.Header{StorageType: c.cfg.StorageType, ClusterID: c.clusterIDOrEmpty()}
	h.KeyTerm, _, _ = c.barrier.KeyStatus()
	seal := func(b []byte) ([]byte, error) { return c.barrier.Encrypt(backup.SealedSumsPath, b) }
	var size int64
	err := snap.Snapshot(ctx, func(n int64, data io.WriterTo) error {
		size = n
		h.Created = c.now().UTC()
		return backup.WriteSnapshot(w, h, n, data, seal)
	})
	return size, err
}
