// Package bolt is Keyward's embedded default storage.Backend: one bbolt file,
// fsynced on every commit, with concurrent writers grouped into a single
// transaction. The backend is untrusted: it only ever holds ciphertext, and
// it never logs or inspects values (logs name paths and counts only).
//
// Open refuses a file it cannot fully trust (a bad meta page, a truncated
// tail, a foreign bbolt layout) rather than treating it as empty, and it keeps
// the data directory at 0700 and the file at 0600 whatever the umask.
package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/keyward/keyward/internal/storage"
)

var _ storage.Backend = (*Store)(nil)

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultTimeout = 2 * time.Second

var (
	// ErrCorrupt is wrapped by Open when the file is damaged or truncated.
	ErrCorrupt = errors.New("corrupt database file")
	// ErrLocked is wrapped by Open when another process holds the file.
	ErrLocked = errors.New("database file is locked by another process")
	// ErrClosed is wrapped by operations on a closed Store.
	ErrClosed = errors.New("storage closed")
)

// bucket holds every key; the file has no other top-level bucket.
var bucket = []byte("keyward")

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// Timeout bounds the wait for the file lock held by another process;
	// zero means DefaultTimeout, negative means do not wait.
	Timeout time.Duration
	// NoGroupCommit runs every write in its own transaction instead of
	// grouping concurrent writers into one commit and one fsync.
	NoGroupCommit bool
	// MaxSize caps the file size in bytes; zero means no cap. A write that
	// would grow the file past it fails with an error wrapping
	// syscall.ENOSPC and reads keep working. As on a full disk, even
	// deletes can fail at the cap (bbolt copies pages on write); reopen
	// with a larger cap to recover.
	MaxSize int
	// Logger receives open and permission events; nil discards them.
	Logger *slog.Logger
}

// Store is a storage.Backend in one bbolt file. It is safe for concurrent
// use. Put, Delete and Batch return nil only once their transaction is
// fsynced.
type Store struct {
	db     *bbolt.DB
	path   string
	logger *slog.Logger

	// Group commit: writes queue on reqs and one goroutine commits them.
	group     bool
	mu        sync.RWMutex // guards closed against sends on reqs
	closed    bool
	reqs      chan *request
	writerWG  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open opens or creates the store file at path. Missing directories are
// created 0700; the file's directory is tightened to 0700 and the file to
// 0600 if they are looser (a shared sticky directory such as /tmp is
// refused instead). A damaged file fails with an error wrapping ErrCorrupt,
// a file locked for longer than opts.Timeout with one wrapping ErrLocked.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open storage: empty path")
	}
	path = filepath.Clean(path)
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "storage", "path", path)
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}

	if err := prepareDir(filepath.Dir(path), logger); err != nil {
		return nil, fmt.Errorf("open storage %s: %w", path, err)
	}
	f, err := openFile(path, logger)
	if err != nil {
		return nil, fmt.Errorf("open storage %s: %w", path, err)
	}
	if err := lockFile(f, timeout); err != nil {
		f.Close()
		return nil, fmt.Errorf("open storage %s: %w", path, err)
	}
	if err := verifyFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("open storage %s: %w", path, err)
	}
	db, err := openBolt(path, f, timeout, opts.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("open storage %s: %w", path, err)
	}

	s := &Store{db: db, path: path, logger: logger, group: !opts.NoGroupCommit}
	if s.group {
		s.reqs = make(chan *request, maxGroup)
		s.writerWG.Add(1)
		go s.writer()
	}
	logger.Info("storage opened", "group_commit", s.group)
	return s, nil
}

// openBolt hands the already locked and verified file to bbolt, whose own
// flock on the same open file description succeeds at once, then sets up the
// bucket. A fault while bbolt maps or reads the file (SIGBUS past a
// truncated end, a panic on a garbage page) becomes an ErrCorrupt error
// instead of a crash.
func openBolt(path string, f *os.File, timeout time.Duration, maxSize int) (db *bbolt.DB, err error) {
	first := f
	hook := func(name string, flag int, perm os.FileMode) (*os.File, error) {
		if first != nil {
			g := first
			first = nil
			return g, nil
		}
		return os.OpenFile(name, flag|noFollow, perm)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if err != nil && errors.Is(err, errPanic) {
			f.Close() // releases the lock; the mapping leaks on this error path
			db = nil
		}
	}()
	defer recoverCorrupt(&err)
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:  max(timeout, time.Nanosecond),
		OpenFile: hook,
		MaxSize:  max(maxSize, 0),
	})
	if err != nil {
		if first != nil { // bbolt failed before taking the file
			f.Close()
		}
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("%w: %w", ErrLocked, err)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
			errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrInvalidMapping):
			return nil, fmt.Errorf("%w: bbolt: %w", ErrCorrupt, err)
		}
		return nil, fmt.Errorf("bbolt: %w", err)
	}
	if err := initBucket(db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// initBucket creates the keyward bucket in a new file and refuses a bbolt
// file laid out by something else, which would otherwise look empty.
func initBucket(db *bbolt.DB) error {
	var exists bool
	if err := db.View(func(tx *bbolt.Tx) error {
		exists = tx.Bucket(bucket) != nil
		return nil
	}); err != nil || exists {
		return err
	}
	return db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucket) != nil {
			return nil
		}
		foreign := false
		if err := tx.ForEach(func([]byte, *bbolt.Bucket) error {
			foreign = true
			return nil
		}); err != nil {
			return err
		}
		if foreign {
			return fmt.Errorf("%w: not a keyward store (no %q bucket)", ErrCorrupt, bucket)
		}
		_, err := tx.CreateBucket(bucket)
		return err
	})
}

// Close waits for queued writes to commit, then closes the file. Later
// calls return the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		if s.group {
			close(s.reqs)
			s.writerWG.Wait()
		}
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close storage %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// Get returns a copy of the value at key, or storage.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := storage.CheckKey(key); err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %q: %w", storage.LogKey(key), err)
	}
	var out []byte
	err := s.view(func(tx *bbolt.Tx) error {
		k, v := tx.Bucket(bucket).Cursor().Seek([]byte(key))
		if k == nil || !bytes.Equal(k, []byte(key)) {
			return storage.ErrNotFound
		}
		out = make([]byte, len(v)) // v is only valid inside the transaction
		copy(out, v)
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", storage.LogKey(key), s.mapErr(err))
	}
	return out, nil
}

// List returns the sorted names directly under prefix; names with keys
// beneath them end in "/". It seeks past each directory rather than
// scanning its keys.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := storage.CheckKey(prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %q: %w", storage.LogKey(prefix), err)
	}
	var names []string
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		p := []byte(prefix)
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); {
			name, ok := storage.ListEntry(prefix, string(k))
			if !ok { // the key equal to prefix is not listed
				k, _ = c.Next()
				continue
			}
			names = append(names, name)
			dir, isDir := strings.CutSuffix(name, "/")
			if !isDir {
				k, _ = c.Next()
				continue
			}
			// Skip everything under prefix+dir: '0' is the byte after '/'.
			k, _ = c.Seek([]byte(prefix + dir + "0"))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", storage.LogKey(prefix), s.mapErr(err))
	}
	return names, nil
}

// Put stores value at key, durably once it returns nil. If ctx ends while
// the write is queued, Put returns ctx's error and the write may still land.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	if err := s.write(ctx, []storage.Op{{Key: key, Value: value}}); err != nil {
		return fmt.Errorf("put %q: %w", storage.LogKey(key), err)
	}
	return nil
}

// Delete removes key; an absent key is not an error. Context handling is
// as for Put.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.write(ctx, []storage.Op{{Key: key, Delete: true}}); err != nil {
		return fmt.Errorf("delete %q: %w", storage.LogKey(key), err)
	}
	return nil
}

// Batch applies ops in order in one transaction: all or none. An invalid
// op (empty or oversized key, oversized value) fails the batch before
// anything is written. Context handling is as for Put.
func (s *Store) Batch(ctx context.Context, ops []storage.Op) error {
	if err := s.write(ctx, ops); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	return nil
}

func (s *Store) write(ctx context.Context, ops []storage.Op) error {
	if err := validate(ops); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.group {
		return s.mapErr(s.update(func(tx *bbolt.Tx) error { return apply(tx, ops) }))
	}
	return s.enqueue(ctx, ops)
}

func validate(ops []storage.Op) error {
	if err := storage.CheckOps(ops); err != nil { // MaxKeyLength is well under bbolt.MaxKeySize
		return err
	}
	for i, op := range ops {
		if int64(len(op.Value)) > bbolt.MaxValueSize {
			return fmt.Errorf("op %d: value longer than %d bytes", i, bbolt.MaxValueSize)
		}
	}
	return nil
}

// apply writes ops into tx. bbolt keeps the value slices only until the
// transaction ends, so nothing of the caller's is retained after return.
func apply(tx *bbolt.Tx, ops []storage.Op) error {
	b := tx.Bucket(bucket)
	for _, op := range ops {
		var err error
		if op.Delete {
			err = b.Delete([]byte(op.Key))
		} else {
			v := op.Value
			if v == nil {
				v = []byte{}
			}
			err = b.Put([]byte(op.Key), v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// errPanic marks an error recovered from a bbolt panic or memory fault.
var errPanic = errors.New("bbolt")

// recoverCorrupt, deferred, turns a bbolt panic or memory fault (with
// debug.SetPanicOnFault) into an ErrCorrupt error in *err. bbolt trusts its
// pages and panics on a damaged one; this keeps that to one failed call
// instead of a crashed process. bbolt rolls its transaction back while
// unwinding.
func recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %w: %v", ErrCorrupt, errPanic, r)
	}
}

// view runs fn in a read transaction; see recoverCorrupt.
func (s *Store) view(fn func(*bbolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err)
	return s.db.View(fn)
}

// update runs fn in a write transaction; see recoverCorrupt.
func (s *Store) update(fn func(*bbolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err)
	return s.db.Update(fn)
}

func (s *Store) mapErr(err error) error {
	switch {
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return ErrClosed
	case errors.Is(err, berrors.ErrMaxSizeReached):
		return fmt.Errorf("%w: %w", syscall.ENOSPC, err)
	}
	return err
}

// prepareDir creates dir 0700 if missing and tightens it to 0700 if it is
// looser. A sticky directory is shared by design (/tmp), so it is refused
// rather than changed.
func prepareDir(dir string, logger *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if fi.Mode().Perm() == 0o700 {
		return nil
	}
	if fi.Mode()&os.ModeSticky != 0 {
		return fmt.Errorf("data directory %s is shared (mode %v): use a private directory", dir, fi.Mode())
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("tighten data directory to 0700: %w", err)
	}
	logger.Warn("storage directory permissions set to 0700", "dir", dir, "was", fi.Mode().Perm().String())
	return nil
}

// openFile opens or creates the store file without following a symlink,
// checks it is a regular file, and sets its mode to 0600 through the
// descriptor.
func openFile(path string, logger *slog.Logger) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|noFollow, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Mode().Perm() != 0o600 {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, fmt.Errorf("set file mode 0600: %w", err)
		}
		if fi.Size() > 0 {
			logger.Warn("storage file permissions set to 0600", "was", fi.Mode().Perm().String())
		}
	}
	return f, nil
}
