package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	hraft "github.com/hashicorp/raft"
	bbolt "go.etcd.io/bbolt"
)

// Buckets of the log file (raft.db).
var (
	logsBucket   = []byte("logs")
	stableBucket = []byte("stable")
)

// errStableNotFound is what hashicorp/raft expects from StableStore for an
// absent key: it compares the message, not the value.
var errStableNotFound = errors.New("not found")

// logStore is a raft.LogStore and raft.StableStore in one bbolt file. Logs
// are keyed by big-endian index so the bucket is ordered; StoreLogs writes a
// whole batch in one transaction, fsynced on commit. It never decodes or
// logs entry data, which is ciphertext.
type logStore struct {
	db *bbolt.DB
}

var (
	_ hraft.LogStore    = (*logStore)(nil)
	_ hraft.StableStore = (*logStore)(nil)
)

// openLogStore opens (creating) the log file at path.
func openLogStore(path string) (*logStore, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("open log store: %w", err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{logsBucket, stableBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open log store: %w", err)
	}
	return &logStore{db: db}, nil
}

func (s *logStore) Close() error { return s.db.Close() }

// FirstIndex returns the first stored index, or 0 when there is none.
func (s *logStore) FirstIndex() (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(logsBucket).Cursor().First(); k != nil {
			idx = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return idx, err
}

// LastIndex returns the last stored index, or 0 when there is none.
func (s *logStore) LastIndex() (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		if k, _ := tx.Bucket(logsBucket).Cursor().Last(); k != nil {
			idx = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return idx, err
}

// GetLog reads the entry at index into log, or returns raft.ErrLogNotFound.
func (s *logStore) GetLog(index uint64, log *hraft.Log) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(logsBucket).Get(indexKey(index))
		if v == nil {
			return hraft.ErrLogNotFound
		}
		if err := decodeLog(v, log); err != nil {
			return fmt.Errorf("log %d: %w", index, err)
		}
		log.Index = index
		return nil
	})
}

// StoreLog stores one entry.
func (s *logStore) StoreLog(log *hraft.Log) error {
	return s.StoreLogs([]*hraft.Log{log})
}

// StoreLogs stores entries in one transaction, fsynced before it returns.
func (s *logStore) StoreLogs(logs []*hraft.Log) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(logsBucket)
		b.FillPercent = 1 // keys only ever grow: pack pages full
		for _, l := range logs {
			if err := b.Put(indexKey(l.Index), encodeLog(l)); err != nil {
				return fmt.Errorf("store log %d: %w", l.Index, err)
			}
		}
		return nil
	})
}

// DeleteRange deletes the entries from min to max, inclusive.
func (s *logStore) DeleteRange(min, max uint64) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		c := tx.Bucket(logsBucket).Cursor()
		for k, _ := c.Seek(indexKey(min)); k != nil && binary.BigEndian.Uint64(k) <= max; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// Set stores val at key in the stable bucket, fsynced.
func (s *logStore) Set(key, val []byte) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(stableBucket).Put(key, val)
	})
}

// Get returns a copy of the value at key, or an error reading "not found".
func (s *logStore) Get(key []byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(stableBucket).Get(key)
		if v == nil {
			return errStableNotFound
		}
		out = append([]byte{}, v...)
		return nil
	})
	return out, err
}

// SetUint64 stores val at key as 8 big-endian bytes.
func (s *logStore) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 reads a value stored by SetUint64.
func (s *logStore) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("stable key %q: %d-byte value, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func indexKey(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }

// logVersion is the first byte of a stored log entry.
const logVersion = 1

// encodeLog encodes everything of l but its index (the key):
//
//	version(1) term(uvarint) type(1) datalen(uvarint) data extlen(uvarint) ext hastime(1) [unixnano(varint)]
func encodeLog(l *hraft.Log) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+3+len(l.Data)+len(l.Extensions)+binary.MaxVarintLen64)
	b = append(b, logVersion)
	b = binary.AppendUvarint(b, l.Term)
	b = append(b, byte(l.Type))
	b = binary.AppendUvarint(b, uint64(len(l.Data)))
	b = append(b, l.Data...)
	b = binary.AppendUvarint(b, uint64(len(l.Extensions)))
	b = append(b, l.Extensions...)
	if l.AppendedAt.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	return binary.AppendVarint(b, l.AppendedAt.UnixNano())
}

// errBadLog is wrapped by decodeLog for a damaged entry.
var errBadLog = errors.New("malformed log entry")

// decodeLog decodes an entry written by encodeLog into l, copying data out
// of v (which bbolt owns only for the transaction).
func decodeLog(v []byte, l *hraft.Log) error {
	if len(v) == 0 || v[0] != logVersion {
		return errBadLog
	}
	d := decoder{b: v, off: 1}
	term, err := d.uvarint()
	if err != nil {
		return errBadLog
	}
	if d.off >= len(v) {
		return errBadLog
	}
	typ := hraft.LogType(v[d.off])
	d.off++
	data, err := d.bytes()
	if err != nil {
		return errBadLog
	}
	ext, err := d.bytes()
	if err != nil || d.off >= len(v) {
		return errBadLog
	}
	var at time.Time
	switch v[d.off] {
	case 0:
		d.off++
	case 1:
		n, k := binary.Varint(v[d.off+1:])
		if k <= 0 {
			return errBadLog
		}
		at = time.Unix(0, n)
		d.off += 1 + k
	default:
		return errBadLog
	}
	if d.off != len(v) {
		return errBadLog
	}
	*l = hraft.Log{Term: term, Type: typ, AppendedAt: at}
	if len(data) > 0 {
		l.Data = append([]byte(nil), data...)
	}
	if len(ext) > 0 {
		l.Extensions = append([]byte(nil), ext...)
	}
	return nil
}
