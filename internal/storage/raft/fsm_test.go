package raft

import (
	"bytes"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	hraft "github.com/hashicorp/raft"

	"github.com/keyward/keyward/internal/storage"
)

func openTestFSM(t *testing.T) *fsm {
	t.Helper()
	f, err := openFSM(filepath.Join(t.TempDir(), "fsm.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.close() })
	return f
}

func command(index uint64, ops ...storage.Op) *hraft.Log {
	return &hraft.Log{Index: index, Type: hraft.LogCommand, Data: encodeCommand(ops)}
}

func put(k, v string) storage.Op { return storage.Op{Key: k, Value: []byte(v)} }

// TestFSMListSkipsSubtrees: List seeks past each "dir/" and still answers
// what ListNames over every key answers, for keys that sort around "/".
func TestFSMListSkipsSubtrees(t *testing.T) {
	f := openTestFSM(t)
	keys := []string{"a/b", "a/b-", "a/b/c", "a/b/c/d", "a/b/z", "a/b0", "a/b0/x", "a/c", "a/\xff/k", "a/.", "b", "a/b//", "a//x"}
	var ops []storage.Op
	for _, k := range keys {
		ops = append(ops, put(k, "v"))
	}
	for _, r := range f.ApplyBatch([]*hraft.Log{command(1, ops...)}) {
		if r != nil {
			t.Fatal(r)
		}
	}
	for _, prefix := range []string{"", "a/", "a/b/", "a/b0/", "a//", "a/b//", "zz/"} {
		got, err := f.list(prefix)
		if err != nil {
			t.Fatal(err)
		}
		want := storage.ListNames(prefix, slices.Values(keys))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("list(%q) mismatch (-want +got):\n%s", prefix, diff)
		}
	}
}

func TestFSMSkipsReplayedEntries(t *testing.T) {
	f := openTestFSM(t)
	f.ApplyBatch([]*hraft.Log{command(1, put("k", "one")), command(2, put("k", "two"))})
	if got := f.appliedIndex(); got != 2 {
		t.Fatalf("appliedIndex = %d, want 2", got)
	}
	// A restart replays from the last snapshot: entry 1 must not roll k back.
	f.ApplyBatch([]*hraft.Log{command(1, put("k", "one"))})
	if v, _ := f.get("k"); string(v) != "two" {
		t.Fatalf("get(k) after a replay = %q, want two", v)
	}
	// A malformed command fails alone.
	resp := f.ApplyBatch([]*hraft.Log{{Index: 3, Type: hraft.LogCommand, Data: []byte{9}}, command(4, put("k", "four"))})
	if resp[0] == nil || resp[1] != nil {
		t.Fatalf("responses = %v, want an error then nil", resp)
	}
	if v, _ := f.get("k"); string(v) != "four" {
		t.Fatalf("get(k) = %q, want four", v)
	}
}

func TestFSMSnapshotRestore(t *testing.T) {
	f := openTestFSM(t)
	f.ApplyBatch([]*hraft.Log{command(1, put("k", "snap"))})
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// As in raft, Persist runs on another goroutine while entries apply.
	var buf bytes.Buffer
	persisted := make(chan error, 1)
	go func() {
		defer snap.Release()
		persisted <- snap.Persist(&sink{Buffer: &buf})
	}()
	f.ApplyBatch([]*hraft.Log{command(2, put("k", "later"), put("only-later", "x"))}) // after the snapshot point
	if err := <-persisted; err != nil {
		t.Fatal(err)
	}

	// A damaged stream is refused and the state stays.
	for _, bad := range [][]byte{buf.Bytes()[:buf.Len()/2], []byte(strings.Repeat("x", 8192))} {
		if err := f.Restore(io.NopCloser(bytes.NewReader(bad))); err == nil {
			t.Fatal("Restore(damaged) = nil error")
		}
		if v, err := f.get("k"); err != nil || string(v) != "later" {
			t.Fatalf("get(k) after a refused restore = %q, %v", v, err)
		}
	}
	if err := f.Restore(io.NopCloser(bytes.NewReader(buf.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if v, err := f.get("k"); err != nil || string(v) != "snap" {
		t.Fatalf("get(k) after restore = %q, %v, want snap", v, err)
	}
	if _, err := f.get("only-later"); err != storage.ErrNotFound {
		t.Fatalf("get(only-later) after restore = %v, want ErrNotFound", err)
	}
	if got := f.appliedIndex(); got != 0 {
		t.Fatalf("appliedIndex after restore = %d, want 0 (raft knows the index)", got)
	}
	// Entries after the restore apply, whatever their index.
	f.ApplyBatch([]*hraft.Log{command(1, put("k", "new"))})
	if v, _ := f.get("k"); string(v) != "new" {
		t.Fatalf("get(k) = %q, want new", v)
	}
}

// sink is a raft.SnapshotSink over a buffer.
type sink struct{ *bytes.Buffer }

func (*sink) ID() string    { return "test" }
func (*sink) Cancel() error { return nil }
func (*sink) Close() error  { return nil }
