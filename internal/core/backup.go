package core

import (
	"context"
	"encoding/hex"
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
