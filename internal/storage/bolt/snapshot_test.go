package bolt_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/storage/bolt"
)

// snapshotBytes takes a snapshot of s into memory (tests only).
func snapshotBytes(t *testing.T, s *bolt.Store, during func()) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := s.Snapshot(t.Context(), func(size int64, data io.WriterTo) error {
		during()
		n, err := data.WriteTo(&buf)
		if err == nil && n != size {
			err = fmt.Errorf("wrote %d bytes, size %d", n, size)
		}
		return err
	})
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return buf.Bytes()
}

func TestSnapshotConsistentWhileWriting(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "keyward.db"), bolt.Options{})
	for i := range 200 {
		if err := s.Put(ctx, fmt.Sprintf("before/%03d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var acked [8]atomic.Int64 // writes of each writer that returned
	var writeErr error
	var errOnce sync.Once
	for w := range 8 {
		wg.Go(func() {
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.Put(ctx, fmt.Sprintf("during/%d/%06d", w, i), bytes.Repeat([]byte("x"), 512)); err != nil {
					errOnce.Do(func() { writeErr = err })
					return
				}
				acked[w].Store(i + 1)
			}
		})
	}
	for acked[7].Load() == 0 { // let the writers get going
		runtime.Gosched()
	}
	var before8 [8]int64
	for w := range acked {
		before8[w] = acked[w].Load()
	}
	snap := snapshotBytes(t, s, func() {})
	close(stop)
	wg.Wait()
	if writeErr != nil {
		t.Fatalf("write during snapshot: %v", writeErr)
	}

	path := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(path, snap, 0o600); err != nil {
		t.Fatal(err)
	}
	r := open(t, path, bolt.Options{})
	before, err := r.List(ctx, "before/")
	if err != nil || len(before) != 200 {
		t.Errorf("snapshot has %d before/ keys (%v), want 200", len(before), err)
	}
	for w, n := range before8 {
		keys, err := r.List(ctx, fmt.Sprintf("during/%d/", w))
		if err != nil || int64(len(keys)) < n {
			t.Errorf("writer %d: snapshot has %d keys (%v), but %d were acknowledged before it", w, len(keys), err, n)
		}
		for i, k := range keys { // a prefix of the writer's sequence: no holes
			if k != fmt.Sprintf("%06d", i) {
				t.Fatalf("writer %d: key %d is %q", w, i, k)
			}
		}
	}
}

func TestRestore(t *testing.T) {
	ctx := t.Context()
	src := open(t, filepath.Join(t.TempDir(), "keyward.db"), bolt.Options{})
	if err := src.Put(ctx, "k", []byte("ciphertext")); err != nil {
		t.Fatal(err)
	}
	snap := snapshotBytes(t, src, func() {})

	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "keyward.db")
	if n, err := bolt.Restore(ctx, path, bytes.NewReader(snap)); err != nil || n != int64(len(snap)) {
		t.Fatalf("Restore = %d, %v; want %d, nil", n, err, len(snap))
	}
	assertOnly(t, dir, "keyward.db")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored file mode: %v, %v", fi, err)
	}

	t.Run("refused while open", func(t *testing.T) {
		s := open(t, path, bolt.Options{})
		_, err := bolt.Restore(ctx, path, bytes.NewReader(snap))
		if !errors.Is(err, bolt.ErrLocked) {
			t.Errorf("Restore over an open store: %v, want ErrLocked", err)
		}
		assertOnly(t, dir, "keyward.db")
		s.Close()
	})
	t.Run("reader error keeps the old file", func(t *testing.T) {
		bad := io.MultiReader(bytes.NewReader(snap[:100]), errReader{errors.New("hash mismatch")})
		if _, err := bolt.Restore(ctx, path, bad); err == nil {
			t.Error("Restore with a failing reader succeeded")
		}
		assertOnly(t, dir, "keyward.db")
		s := open(t, path, bolt.Options{})
		if v, err := s.Get(ctx, "k"); err != nil || string(v) != "ciphertext" {
			t.Errorf("after refused restore Get = %q, %v", v, err)
		}
		s.Close()
	})
	t.Run("not a bolt file", func(t *testing.T) {
		if _, err := bolt.Restore(ctx, path, bytes.NewReader(bytes.Repeat([]byte("garbage!"), 4096))); !errors.Is(err, bolt.ErrCorrupt) {
			t.Errorf("Restore of garbage: %v, want ErrCorrupt", err)
		}
		assertOnly(t, dir, "keyward.db")
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if fmt.Sprint(got) != fmt.Sprint(names) {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}
