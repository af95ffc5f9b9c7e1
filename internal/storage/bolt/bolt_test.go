package bolt_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/bolt"
	"github.com/keyward/keyward/internal/storage/storagetest"
)

// open opens a store at path and closes it when the test ends.
func open(t testing.TB, path string, opts bolt.Options) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts bolt.Options
	}{
		{"group-commit", bolt.Options{}},
		{"no-group-commit", bolt.Options{NoGroupCommit: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storagetest.Run(t, func(t testing.TB) storage.Backend {
				return open(t, filepath.Join(t.TempDir(), "data", "keyward.db"), tc.opts)
			})
		})
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	if err := s.Batch(t.Context(), []storage.Op{{Key: "a/b", Value: []byte("v")}, {Key: "e", Value: []byte{}}}); err != nil {
		t.Fatalf("Batch = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	s = open(t, path, bolt.Options{})
	if got, err := s.Get(t.Context(), "a/b"); err != nil || string(got) != "v" {
		t.Fatalf("Get(a/b) after reopen = (%q, %v), want (v, nil)", got, err)
	}
	if got, err := s.Get(t.Context(), "e"); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Get(e) after reopen = (%q, %v), want an empty non-nil value", got, err)
	}
}

// populate writes enough keys to span many pages and returns the file path.
func populate(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	var ops []storage.Op
	for i := range 300 {
		ops = append(ops, storage.Op{Key: fmt.Sprintf("k/%04d", i), Value: bytes.Repeat([]byte{byte(i)}, 1000)})
	}
	if err := s.Batch(t.Context(), ops); err != nil {
		t.Fatalf("Batch = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	return path
}

// overwrite puts n random bytes at off in the file at path.
func overwrite(t *testing.T, path string, off, n int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, n)
	rand.Read(buf)
	if _, err := f.WriteAt(buf, off); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestOpenRejectsCorruptFile(t *testing.T) {
	page := int64(os.Getpagesize())
	tests := []struct {
		name    string
		corrupt func(t *testing.T, path string)
	}{
		{"truncated-to-half", func(t *testing.T, path string) {
			if err := os.Truncate(path, fileSize(t, path)/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated-to-one-page", func(t *testing.T, path string) {
			if err := os.Truncate(path, page); err != nil {
				t.Fatal(err)
			}
		}},
		{"random-page-0", func(t *testing.T, path string) { overwrite(t, path, 0, page) }},
		{"random-page-1", func(t *testing.T, path string) { overwrite(t, path, page, page) }},
		{"one-bit-in-meta-0", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			b := make([]byte, 1)
			f.ReadAt(b, 16+40) // the high-water page id
			b[0] ^= 1
			f.WriteAt(b, 16+40)
		}},
		{"garbage-data-pages", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, int(fileSize(t, path)-2*page)), 2*page); err != nil {
				t.Fatal(err)
			}
		}},
		{"not-bbolt", func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("plain text\n"), 2000), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"tiny", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"foreign-bbolt-layout", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Update(func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucket([]byte("someone-else"))
				if err != nil {
					return err
				}
				return b.Put([]byte("k"), []byte("v"))
			}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := populate(t)
			tc.corrupt(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := bolt.Open(path, bolt.Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open of a corrupt file = nil error, want ErrCorrupt")
			}
			t.Logf("Open error: %v", err)
			if !errors.Is(err, bolt.ErrCorrupt) {
				t.Errorf("Open error = %v, want it to wrap ErrCorrupt", err)
			}
			if want := "open storage " + path + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Open error = %q, want prefix %q", err, want)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("a failed Open modified the file (it must never be reinitialised)")
			}
		})
	}
}

func TestOpenLockedTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	first, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	// flock is per open file description, so a second Open in this process
	// contends exactly as another process would.
	_, err = bolt.Open(path, bolt.Options{Timeout: 100e6})
	if !errors.Is(err, bolt.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	open(t, path, bolt.Options{Timeout: 100e6})
}

func TestClosedStore(t *testing.T) {
	for _, opts := range []bolt.Options{{}, {NoGroupCommit: true}} {
		t.Run(fmt.Sprintf("NoGroupCommit=%v", opts.NoGroupCommit), func(t *testing.T) {
			s, err := bolt.Open(filepath.Join(t.TempDir(), "keyward.db"), opts)
			if err != nil {
				t.Fatalf("Open = %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close = %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close = %v, want nil", err)
			}
			ctx := t.Context()
			if err := s.Put(ctx, "k", []byte("v")); !errors.Is(err, bolt.ErrClosed) {
				t.Errorf("Put after Close = %v, want ErrClosed", err)
			}
			if _, err := s.Get(ctx, "k"); !errors.Is(err, bolt.ErrClosed) {
				t.Errorf("Get after Close = %v, want ErrClosed", err)
			}
			if _, err := s.List(ctx, ""); !errors.Is(err, bolt.ErrClosed) {
				t.Errorf("List after Close = %v, want ErrClosed", err)
			}
		})
	}
}

func TestRejectsInvalidWrites(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "keyward.db"), bolt.Options{})
	ctx := t.Context()
	tests := []struct {
		name string
		ops  []storage.Op
	}{
		{"empty-key", []storage.Op{{Key: "ok", Value: []byte("v")}, {Key: ""}}},
		{"key-too-long", []storage.Op{{Key: "ok", Value: []byte("v")}, {Key: strings.Repeat("k", bbolt.MaxKeySize+1)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Batch(ctx, tc.ops); err == nil {
				t.Fatal("Batch = nil, want an error")
			}
			if _, err := s.Get(ctx, "ok"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Get(ok) = %v, want ErrNotFound: the rejected batch must not land", err)
			}
		})
	}
}

func TestCanceledContextWritesNothing(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "keyward.db"), bolt.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Put(ctx, "k", []byte("v")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.Get(t.Context(), "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(k) = %v, want ErrNotFound", err)
	}
}

func TestMaxSizeActsLikeFullDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	s := open(t, path, bolt.Options{MaxSize: 4 << 20})
	ctx := t.Context()
	chunk := bytes.Repeat([]byte("c"), 256<<10)
	for i := range 4 {
		if err := s.Put(ctx, fmt.Sprint("fill/", i), chunk); err != nil {
			t.Fatalf("Put(fill/%d) = %v", i, err)
		}
	}
	huge := make([]byte, 8<<20)

	// A write that can never fit fails alone: small writes committed in the
	// same group still succeed.
	for round := range 5 {
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			if err := s.Put(ctx, "huge", huge); !errors.Is(err, syscall.ENOSPC) {
				errs <- fmt.Errorf("Put(huge) = %v, want ENOSPC", err)
			}
		})
		for w := range 32 {
			wg.Go(func() {
				<-start
				k := fmt.Sprintf("small/%d/%d", round, w)
				if err := s.Put(ctx, k, []byte("v")); err != nil {
					errs <- fmt.Errorf("Put(%s) = %w", k, err)
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	if _, err := s.Get(ctx, "huge"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(huge) = %v, want ErrNotFound", err)
	}

	// Fill to the cap: reads keep working, and a larger cap recovers.
	for i := 4; ; i++ {
		err := s.Put(ctx, fmt.Sprint("fill/", i), chunk)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatalf("Put(fill/%d) = %v", i, err)
		}
		if i > 64 {
			t.Fatal("MaxSize never enforced")
		}
	}
	if got, err := s.Get(ctx, "fill/0"); err != nil || !bytes.Equal(got, chunk) {
		t.Fatalf("Get(fill/0) when full = (%d bytes, %v)", len(got), err)
	}
	if names, err := s.List(ctx, "small/"); err != nil || len(names) != 5 {
		t.Fatalf("List(small/) when full = (%q, %v), want 5 names", names, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path, bolt.Options{MaxSize: 8 << 20})
	if err := s.Put(ctx, "after", chunk); err != nil {
		t.Fatalf("Put after raising MaxSize = %v, want nil", err)
	}
}

// TestCorruptPageFailsOneCall damages a data page after Open: bbolt would
// panic on it; the store returns ErrCorrupt for that read instead.
func TestCorruptPageFailsOneCall(t *testing.T) {
	path := populate(t)
	s := open(t, path, bolt.Options{})
	if _, err := s.List(t.Context(), "k/"); err != nil {
		t.Fatalf("List before damage = %v", err)
	}
	// A fixed pattern keeps the test deterministic: 0xa5 makes every page a
	// branch page whose elements point far outside the file.
	page := int64(os.Getpagesize())
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, int(fileSize(t, path)-2*page)), 2*page); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = s.List(t.Context(), "k/")
	if !errors.Is(err, bolt.ErrCorrupt) {
		t.Fatalf("List over damaged pages = %v, want ErrCorrupt", err)
	}
}
