package raft

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"
	bbolt "go.etcd.io/bbolt"

	"github.com/keyward/keyward/internal/storage"
)

// Buckets of the FSM file (fsm.db).
var (
	dataBucket = []byte("data")
	metaBucket = []byte("meta")
	appliedKey = []byte("applied")
)

// errFSMFailed is wrapped by every FSM call after a local write failed: the
// file no longer matches the log, so the node refuses to serve from it until
// it restarts and replays the log.
var errFSMFailed = errors.New("raft state machine failed")

// fsm is the replicated state machine: the key/value pairs in one bbolt
// file, fsynced on every commit, plus the index of the last applied entry
// (in the meta bucket, written in the same transaction). It only ever holds
// ciphertext and never logs a value.
type fsm struct {
	path   string
	logger *slog.Logger

	// mu guards db against Restore swapping the file: Apply and reads hold
	// it shared (bbolt orders them), Restore exclusively.
	mu sync.RWMutex
	db *bbolt.DB

	state   sync.Mutex
	applied uint64 // last index written; entries at or below it are skipped
	failed  error  // sticky; see errFSMFailed
}

var _ hraft.BatchingFSM = (*fsm)(nil)

// fsmMmapSize is the state machine's initial memory map: address space,
// not memory, so that the map rarely has to grow (see Snapshot).
const fsmMmapSize = 1 << 30

func openFSM(path string, logger *slog.Logger) (*fsm, error) {
	f := &fsm{path: path, logger: logger}
	if err := f.open(); err != nil {
		return nil, err
	}
	return f, nil
}

// open opens f.path and reads the applied index; f.mu is held or f is new.
func (f *fsm) open() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("open state machine: damaged file: %v", r)
		}
	}()
	db, err := bbolt.Open(f.path, 0o600, &bbolt.Options{Timeout: time.Second, InitialMmapSize: fsmMmapSize})
	if err != nil {
		return fmt.Errorf("open state machine: %w", err)
	}
	var applied uint64
	err = db.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(dataBucket); err != nil {
			return err
		}
		m, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		if v := m.Get(appliedKey); len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return fmt.Errorf("open state machine: %w", err)
	}
	f.db = db
	f.state.Lock()
	f.applied = applied
	f.state.Unlock()
	return nil
}

func (f *fsm) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.db.Close()
}

// appliedIndex returns the index of the last entry written to the file.
func (f *fsm) appliedIndex() uint64 {
	f.state.Lock()
	defer f.state.Unlock()
	return f.applied
}

// err returns the sticky failure, if any.
func (f *fsm) err() error {
	f.state.Lock()
	defer f.state.Unlock()
	return f.failed
}

// Apply applies one committed entry.
func (f *fsm) Apply(l *hraft.Log) any { return f.ApplyBatch([]*hraft.Log{l})[0] }

// ApplyBatch applies the commands among logs in one transaction. Each
// response is nil or an error: a command that does not decode fails alone
// (the leader validates before proposing, so that means a foreign writer),
// and a failed transaction fails the batch and the FSM (errFSMFailed).
func (f *fsm) ApplyBatch(logs []*hraft.Log) []any {
	resp := make([]any, len(logs))
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.state.Lock()
	applied, failed := f.applied, f.failed
	f.state.Unlock()
	if failed != nil {
		for i := range resp {
			resp[i] = failed
		}
		return resp
	}
	var last uint64
	type cmd struct {
		i   int
		ops []storage.Op
	}
	var cmds []cmd
	for i, l := range logs {
		if l.Type != hraft.LogCommand || l.Index <= applied {
			continue // replayed after a restart, or not ours
		}
		last = l.Index
		ops, err := decodeCommand(l.Data)
		if err != nil {
			resp[i] = fmt.Errorf("log %d: %w", l.Index, err)
			f.logger.Error("skipped undecodable command", "index", l.Index, "error", err)
			continue
		}
		cmds = append(cmds, cmd{i, ops})
	}
	if last == 0 {
		return resp
	}
	err := f.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(dataBucket)
		for _, c := range cmds {
			for _, op := range c.ops {
				var err error
				if op.Delete {
					err = b.Delete([]byte(op.Key))
				} else {
					err = b.Put([]byte(op.Key), op.Value)
				}
				if err != nil {
					return fmt.Errorf("key %q: %w", storage.LogKey(op.Key), err)
				}
			}
		}
		return tx.Bucket(metaBucket).Put(appliedKey, binary.BigEndian.AppendUint64(nil, last))
	})
	f.state.Lock()
	defer f.state.Unlock()
	if err != nil {
		f.failed = fmt.Errorf("%w: apply through log %d: %w", errFSMFailed, last, err)
		f.logger.Error("state machine write failed; restart the node to replay the log", "index", last, "error", err)
		for i := range resp {
			resp[i] = f.failed
		}
		return resp
	}
	f.applied = last
	return resp
}

// get returns a copy of the value at key (non-nil), or storage.ErrNotFound.
func (f *fsm) get(key string) ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if err := f.err(); err != nil {
		return nil, err
	}
	var out []byte
	err := f.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(dataBucket).Get([]byte(key))
		if v == nil {
			return storage.ErrNotFound
		}
		out = append(make([]byte, 0, len(v)), v...)
		return nil
	})
	return out, err
}

// list returns the List names under prefix from one consistent view.
func (f *fsm) list(prefix string) ([]string, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if err := f.err(); err != nil {
		return nil, err
	}
	var names []string
	err := f.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(dataBucket).Cursor()
		p := []byte(prefix)
		// One key per name: after a key under a "dir/" name, seek past
		// every key under it ("dir0" is the first key after "dir/...").
		names = storage.ListNames(prefix, func(yield func(string) bool) {
			for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); {
				key := string(k)
				if !yield(key) {
					return
				}
				name, ok := storage.ListEntry(prefix, key)
				if ok && strings.HasSuffix(name, "/") {
					k, _ = c.Seek([]byte(prefix + name[:len(name)-1] + "0"))
				} else {
					k, _ = c.Next()
				}
			}
		})
		return nil
	})
	return names, err
}

// Snapshot pins a read transaction: Persist streams the file exactly as it
// stood after the last applied entry while writes go on. bbolt cannot grow
// its memory map while a read transaction is open, so a write that needs a
// larger map (and the reads queued behind it) waits for Persist to end;
// fsmMmapSize makes that rare. Persist must not run on the goroutine that
// applies entries (raft runs it on its snapshot goroutine).
func (f *fsm) Snapshot() (hraft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if err := f.err(); err != nil {
		return nil, err
	}
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &fsmSnapshot{tx: tx}, nil
}

type fsmSnapshot struct {
	tx   *bbolt.Tx
	once sync.Once
}

// Persist writes the pinned file to sink.
func (s *fsmSnapshot) Persist(sink hraft.SnapshotSink) error {
	if _, err := s.tx.WriteTo(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release ends the read transaction.
func (s *fsmSnapshot) Release() { s.once.Do(func() { s.tx.Rollback() }) }

// Restore replaces the state with a snapshot stream (a file written by
// Persist). The stream goes to a temporary file that must open as a bbolt
// file with a data bucket before it replaces the current one; the applied
// index in it is reset to zero, since raft, not the file, knows the index
// the snapshot stands for.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := f.path + ".restore"
	if err := writeRestoreFile(tmp, rc); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.db.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore snapshot: close state machine: %w", err)
	}
	err := os.Rename(tmp, f.path)
	if err == nil {
		err = syncDir(filepath.Dir(f.path))
	}
	if oerr := f.open(); oerr != nil {
		err = errors.Join(err, oerr)
	}
	f.state.Lock()
	defer f.state.Unlock()
	if err != nil {
		f.failed = fmt.Errorf("%w: restore: %w", errFSMFailed, err)
		return f.failed
	}
	f.failed = nil
	return nil
}

// writeRestoreFile copies r to path, fsyncs it and checks it is a state
// machine file, setting its applied index to zero.
func writeRestoreFile(path string, r io.Reader) (err error) {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("damaged snapshot: %v", r)
		}
	}()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("snapshot is not a state machine file: %w", err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(dataBucket) == nil {
			return errors.New("snapshot has no data bucket")
		}
		m, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		return m.Put(appliedKey, binary.BigEndian.AppendUint64(nil, 0))
	})
	return errors.Join(err, db.Close())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// restoreAt restores a snapshot taken at index and records index as
// applied, so that raft's replay after it is not skipped and nothing before
// it is applied twice.
func (f *fsm) restoreAt(rc io.ReadCloser, index uint64) error {
	if err := f.Restore(rc); err != nil {
		return err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	err := f.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(metaBucket).Put(appliedKey, binary.BigEndian.AppendUint64(nil, index))
	})
	if err != nil {
		return fmt.Errorf("restore snapshot: record index: %w", err)
	}
	f.state.Lock()
	f.applied = index
	f.state.Unlock()
	return nil
}
