//go:build unix

package bolt_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/keyward/keyward/internal/storage/bolt"
)

// withUmask sets the process umask for the rest of the test. Tests using it
// must not call t.Parallel.
func withUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %v, want %v", path, got, want)
	}
}

func TestFileModesUnderUmask000(t *testing.T) {
	withUmask(t, 0)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir, file string)
	}{
		{"fresh", func(*testing.T, string, string) {}},
		{"loose-dir-and-file", func(t *testing.T, dir, file string) {
			if err := os.MkdirAll(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, nil, 0o666); err != nil {
				t.Fatal(err)
			}
			wantMode(t, dir, 0o777)
			wantMode(t, file, 0o666)
		}},
		{"existing-store-loose", func(t *testing.T, dir, file string) {
			s, err := bolt.Open(file, bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(file, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "a", "data")
			file := filepath.Join(dir, "keyward.db")
			tc.setup(t, dir, file)
			s := open(t, file, bolt.Options{})
			if err := s.Put(t.Context(), "k", []byte("v")); err != nil {
				t.Fatalf("Put = %v", err)
			}
			wantMode(t, dir, 0o700)
			wantMode(t, file, 0o600)
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				wantMode(t, filepath.Join(dir, e.Name()), 0o600)
			}
		})
	}
}

func TestOpenRefusesSharedDirAndSymlink(t *testing.T) {
	t.Run("sticky-dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "shared")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		if s, err := bolt.Open(filepath.Join(dir, "keyward.db"), bolt.Options{}); err == nil {
			s.Close()
			t.Fatal("Open in a sticky world-writable directory = nil error, want refusal")
		}
		wantMode(t, dir, 0o777)
	})
	t.Run("symlinked-file", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "elsewhere")
		if err := os.WriteFile(target, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(dir, "keyward.db")); err != nil {
			t.Fatal(err)
		}
		if s, err := bolt.Open(filepath.Join(dir, "keyward.db"), bolt.Options{}); err == nil {
			s.Close()
			t.Fatal("Open through a symlink = nil error, want refusal")
		}
		wantMode(t, target, 0o644)
	})
}
