package bolt_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/bolt"
)

// seedFile returns the bytes of a small valid store holding n keys.
func seedFile(f *testing.F, n int) []byte {
	f.Helper()
	path := filepath.Join(f.TempDir(), "seed.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		f.Fatal(err)
	}
	for i := range n {
		if err := s.Put(f.Context(), fmt.Sprint("k/", i), bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
			f.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzOpen feeds arbitrary file contents to Open. Property: nothing crashes
// the process; Open either fails with ErrCorrupt and leaves the file
// untouched (never reinitialises it), or returns a store whose reads succeed
// or fail with ErrCorrupt.
func FuzzOpen(f *testing.F) {
	valid := seedFile(f, 20)
	page := os.Getpagesize()
	f.Add(valid)
	f.Add(seedFile(f, 0))
	f.Add(valid[:len(valid)/2])
	f.Add(valid[:2*page])
	f.Add(append(bytes.Repeat([]byte{0xff}, page), valid[page:]...))
	f.Add(append(append([]byte{}, valid[:2*page]...), bytes.Repeat([]byte{0xa5}, len(valid)-2*page)...))
	f.Add([]byte("not a database"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return // an empty file is a new store by design
		}
		path := filepath.Join(t.TempDir(), "keyward.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			if !errors.Is(err, bolt.ErrCorrupt) {
				t.Fatalf("Open error = %v, want ErrCorrupt", err)
			}
			after, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if !bytes.Equal(after, data) {
				t.Fatal("a failed Open modified the file")
			}
			return
		}
		defer s.Close()
		// bbolt trusts its data pages; a damaged one must cost one call an
		// ErrCorrupt error, never the process.
		if _, err := s.List(t.Context(), "k/"); err != nil && !errors.Is(err, bolt.ErrCorrupt) {
			t.Fatalf("List on an opened store = %v, want nil or ErrCorrupt", err)
		}
		if _, err := s.Get(t.Context(), "k/1"); err != nil && !errors.Is(err, bolt.ErrCorrupt) && !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get on an opened store = %v, want a value, ErrNotFound or ErrCorrupt", err)
		}
	})
}
