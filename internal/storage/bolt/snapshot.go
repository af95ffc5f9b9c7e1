package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	bbolt "go.etcd.io/bbolt"
)

// Snapshot calls fn with a consistent copy of the whole database file: its
// size and a WriterTo that writes exactly that many bytes. The copy is a
// read transaction, so writers keep committing while fn runs and none of
// their later commits is in it; every write that returned before Snapshot
// was called is. fn must not keep data after it returns. While fn runs, a
// write that must grow the file's memory map waits for it.
func (s *Store) Snapshot(ctx context.Context, fn func(size int64, data io.WriterTo) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	err := s.view(func(tx *bbolt.Tx) error {
		return fn(tx.Size(), tx)
	})
	if err != nil {
		return fmt.Errorf("snapshot: %w", s.mapErr(err))
	}
	return nil
}

// Restore replaces the database file at path with the bytes r yields, for
// an offline restore: it refuses (with an error wrapping ErrLocked) while a
// process holds the file. The bytes go to a 0600 temporary file beside
// path, are fsynced, must open as a Keyward bolt store, and only then
// replace path by rename; on any error, including one from r (a backup
// whose hash does not verify), path is untouched and the temporary file
// removed. It returns the number of bytes written.
func Restore(ctx context.Context, path string, r io.Reader) (n int64, err error) {
	if path == "" {
		return 0, errors.New("restore storage: empty path")
	}
	path = filepath.Clean(path)
	dir := filepath.Dir(path)
	if err := prepareDir(dir, slog.New(slog.DiscardHandler)); err != nil {
		return 0, fmt.Errorf("restore storage %s: %w", path, err)
	}
	// Hold the current file's lock for the whole restore, so a server
	// starting meanwhile waits and then opens the new file.
	if cur, err := os.OpenFile(path, os.O_RDWR|noFollow, 0); err == nil {
		defer cur.Close()
		if err := lockFile(cur, -1); err != nil {
			return 0, fmt.Errorf("restore storage %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("restore storage %s: %w", path, err)
	}

	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".restore-*")
	if err != nil {
		return 0, fmt.Errorf("restore storage %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return 0, fmt.Errorf("restore storage %s: %w", path, err)
	}
	n, err = io.Copy(tmp, ctxReader{ctx, r})
	if err != nil {
		return n, fmt.Errorf("restore storage %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return n, fmt.Errorf("restore storage %s: sync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return n, fmt.Errorf("restore storage %s: %w", path, err)
	}
	check, err := Open(tmpName, Options{Timeout: -1, NoGroupCommit: true})
	if err != nil {
		return n, fmt.Errorf("restore storage %s: restored file: %w", path, err)
	}
	if err := check.Close(); err != nil {
		return n, fmt.Errorf("restore storage %s: restored file: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return n, fmt.Errorf("restore storage %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename is durable once the directory is
		d.Close()
	}
	return n, nil
}

// ctxReader stops a long copy when ctx ends (an interrupted restore).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
