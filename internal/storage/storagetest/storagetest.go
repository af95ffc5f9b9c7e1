// Package storagetest is the conformance suite every storage.Backend passes:
// inmem, bolt, postgres and raft run the same Run. The same cases check a
// logical.Storage too, through logicaltest.RunStorage, which presents one
// to RunStore with the Options that say where its contract differs. It owns
// no backend and never prints values, only keys and lengths.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/storage"
)

// Store is what the cases exercise: storage.Backend without Batch. A Store
// that also has storage.Backend's Batch method runs the batch cases and the
// batch steps of the others; one without it skips them. Get reports an
// absent key with storage.ErrNotFound, as a Backend does.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]string, error)
}

// batcher is the optional Batch of a Store.
type batcher interface {
	Batch(ctx context.Context, ops []storage.Op) error
}

// Options say where a store's contract differs from storage.Backend's. The
// zero Options is storage.Backend's contract; none of them leaves a case
// out, each one changes what a case expects.
type Options struct {
	// EmptyKeyErr, when set, is the error that Get, Put, Delete and a batch
	// op on the empty key must wrap, in a short message. When nil, Put and a
	// batch op on the empty key must fail with some error.
	EmptyKeyErr error
	// PrefixedKeys is set for a store that adds a prefix of its own to every
	// key before storage.MaxKeyLength applies (a view). The limit is then
	// checked from above: a 1 KiB key works and a key of "dir/" plus
	// MaxKeyLength bytes fails. Otherwise it is checked at the edge: a key
	// of MaxKeyLength bytes works and one byte more fails.
	PrefixedKeys bool
	// NoEscapingKeys is set for a store that may refuse a key that starts
	// with "/" or has a ".." segment (a view, so that no key reaches out of
	// it); the suite then stores no such key. Otherwise they are ordinary
	// keys, stored and listed like any other.
	NoEscapingKeys bool
}

// Run runs the conformance suite on storage.Backends. newBackend returns a
// fresh, empty backend for each subtest and registers its own cleanup on t.
func Run(t *testing.T, newBackend func(t testing.TB) storage.Backend) {
	t.Helper()
	RunStore(t, Options{}, func(t testing.TB) Store { return newBackend(t) })
}

// RunStore runs the conformance suite on stores whose contract differs from
// storage.Backend's as opts says. newStore returns a fresh, empty store for
// each subtest and registers its own cleanup on t.
func RunStore(t *testing.T, opts Options, newStore func(t testing.TB) Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store, o Options)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"EmptyValue", testEmptyValue},
		{"BinaryValues", testBinaryValues},
		{"ValuesAreCopied", testValuesAreCopied},
		{"OddKeys", testOddKeys},
		{"EmptyKeyRejected", testEmptyKeyRejected},
		{"KeyLengthLimit", testKeyLengthLimit},
		{"List", testList},
		{"ListAfterDelete", testListAfterDelete},
		{"EndedContext", testEndedContext},
		{"ConcurrentDistinctKeys", testConcurrentDistinctKeys},
		{"ConcurrentSameKey", testConcurrentSameKey},
	}
	batchTests := []struct {
		name string
		fn   func(t *testing.T, s Store, b batcher, o Options)
	}{
		{"Batch", testBatch},
		{"BatchValuesAreCopied", testBatchValuesAreCopied},
		{"BatchInvalidIsAtomic", testBatchInvalidIsAtomic},
		{"BatchAtomicForReaders", testBatchAtomicForReaders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t), opts)
		})
	}
	for _, tc := range batchTests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			b, ok := s.(batcher)
			if !ok {
				t.Skipf("%T does not implement Batch", s)
			}
			tc.fn(t, s, b, opts)
		})
	}
}

// mustPut puts value at key and fails the test on error.
func mustPut(t testing.TB, s Store, key string, value []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, value); err != nil {
		t.Fatalf("Put(%q) = %v", storage.LogKey(key), err)
	}
}

// mustDelete deletes key and fails the test on error.
func mustDelete(t testing.TB, s Store, key string) {
	t.Helper()
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatalf("Delete(%q) = %v", storage.LogKey(key), err)
	}
}

// wantValue fails the test unless key holds want, in a non-nil slice.
func wantValue(t testing.TB, s Store, key string, want []byte) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q) = %v, want a %d-byte value", storage.LogKey(key), err, len(want))
	}
	if got == nil {
		t.Fatalf("Get(%q) returned a nil slice, want a non-nil %d-byte value", storage.LogKey(key), len(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) returned a different value (len %d, want len %d)", storage.LogKey(key), len(got), len(want))
	}
}

// wantMissing fails the test unless Get(key) returns ErrNotFound.
func wantMissing(t testing.TB, s Store, key string) {
	t.Helper()
	v, err := s.Get(t.Context(), key)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(%q) = (%d bytes, nil slice %v, %v), want the key reported absent (ErrNotFound)", storage.LogKey(key), len(v), v == nil, err)
	}
}

// wantList fails the test unless List(prefix) returns want; nil and empty
// are the same listing.
func wantList(t testing.TB, s Store, prefix string, want []string) {
	t.Helper()
	got, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q) = %v", storage.LogKey(prefix), err)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("List(%q) mismatch (-want +got):\n%s", storage.LogKey(prefix), diff)
	}
}

// wantErr fails the test unless err wraps target (or, for a nil target, is
// any error) and is short enough not to carry a multi-KB key.
func wantErr(t testing.TB, op string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err == nil:
		t.Errorf("%s = nil, want an error", op)
		return
	case target != nil && !errors.Is(err, target):
		t.Errorf("%s = %v, want an error wrapping %q", op, err, target)
		return
	}
	if n := len(err.Error()); n > 512 {
		t.Errorf("%s error is %d bytes long: it carries the key", op, n)
	}
}

func testGetMissing(t *testing.T, s Store, _ Options) {
	wantMissing(t, s, "nope")
	wantMissing(t, s, "a/b/c")
	mustPut(t, s, "a/b", []byte("x"))
	wantMissing(t, s, "a")  // a directory is not a key
	wantMissing(t, s, "a/") // nor is its slash form
	wantMissing(t, s, "a/b/c")
}

func testPutGet(t *testing.T, s Store, _ Options) {
	mustPut(t, s, "k", []byte("v1"))
	mustPut(t, s, "dir/k", []byte("v2"))
	wantValue(t, s, "k", []byte("v1"))
	wantValue(t, s, "dir/k", []byte("v2"))
}

func testOverwrite(t *testing.T, s Store, _ Options) {
	mustPut(t, s, "k", []byte("a longer first value"))
	mustPut(t, s, "k", []byte("short"))
	wantValue(t, s, "k", []byte("short"))
}

func testDelete(t *testing.T, s Store, _ Options) {
	mustPut(t, s, "k", []byte("v"))
	mustPut(t, s, "k2", []byte("v2"))
	mustDelete(t, s, "k")
	wantMissing(t, s, "k")
	wantValue(t, s, "k2", []byte("v2"))
	mustDelete(t, s, "k")             // absent now
	mustDelete(t, s, "never/existed") // and never there
}

// testEmptyValue: an empty value (or nil) is stored, reads back as a
// non-nil empty slice, so it stays distinct from an absent key, and is listed.
func testEmptyValue(t *testing.T, s Store, _ Options) {
	mustPut(t, s, "empty", []byte{})
	mustPut(t, s, "nil", nil)
	wantValue(t, s, "empty", []byte{})
	wantValue(t, s, "nil", []byte{})
	wantMissing(t, s, "absent")
	wantList(t, s, "", []string{"empty", "nil"})
}

func testBinaryValues(t *testing.T, s Store, _ Options) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		name  string
		value []byte
	}{
		{"nul", []byte{0}},
		{"all-bytes", all},
		{"invalid-utf8", []byte{0xc3, 0x28, 0xff, 0xfe}},
		{"big", bytes.Repeat([]byte{0, 0xff, '\n', 0x80}, 64<<10)}, // 256 KiB, spans pages
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustPut(t, s, "bin/"+tc.name, tc.value)
			wantValue(t, s, "bin/"+tc.name, tc.value)
		})
	}
}

func testValuesAreCopied(t *testing.T, s Store, _ Options) {
	in := []byte("original")
	mustPut(t, s, "k", in)
	copy(in, "MUTATED!")
	wantValue(t, s, "k", []byte("original"))

	got, err := s.Get(t.Context(), "k")
	if err != nil {
		t.Fatalf("Get(k) = %v", err)
	}
	copy(got, "MUTATED!")
	wantValue(t, s, "k", []byte("original"))
}

// testOddKeys: keys are byte strings, listed in byte order ('/' is 0x2f,
// between '.' and '0'); only a store with NoEscapingKeys may refuse a
// leading "/" or a ".." segment.
func testOddKeys(t *testing.T, s Store, o Options) {
	long := strings.Repeat("k", 1024)
	keys := []string{
		"with space",
		"tab\there",
		"unicode/ключ/鍵/🔑",
		"dir/" + long,
		long,
		"a-b", "a.b", "a0", "a/b", "a", // sort around '/' (0x2f)
		"trailing\x00nul",
		"dots/.../x", // not a ".." segment
	}
	root := []string{"a", "a-b", "a.b", "a/", "a0", "dir/", "dots/", long, "tab\there", "trailing\x00nul", "unicode/", "with space"}
	dots := []string{".../"}
	if !o.NoEscapingKeys {
		keys = append(keys, "dots/../x", "/rooted")
		root = append([]string{"/"}, root...)
		dots = append(dots, "../")
	}
	for i, k := range keys {
		mustPut(t, s, k, []byte(fmt.Sprint(i)))
	}
	for i, k := range keys {
		wantValue(t, s, k, []byte(fmt.Sprint(i)))
	}
	wantList(t, s, "", root)
	wantList(t, s, "unicode/", []string{"ключ/"})
	wantList(t, s, "unicode/ключ/", []string{"鍵/"})
	wantList(t, s, "unicode/ключ/鍵/", []string{"🔑"})
	wantList(t, s, "dir/", []string{long})
	wantList(t, s, "dots/", dots)
	if !o.NoEscapingKeys {
		wantList(t, s, "/", []string{"rooted"})
	}
}

// testEmptyKeyRejected: the empty key is nobody's; writing it is the
// caller's error, and with EmptyKeyErr so is every other operation on it.
func testEmptyKeyRejected(t *testing.T, s Store, o Options) {
	ctx := t.Context()
	wantErr(t, `Put("")`, s.Put(ctx, "", []byte("v")), o.EmptyKeyErr)
	if o.EmptyKeyErr != nil {
		_, err := s.Get(ctx, "")
		wantErr(t, `Get("")`, err, o.EmptyKeyErr)
		wantErr(t, `Delete("")`, s.Delete(ctx, ""), o.EmptyKeyErr)
	}
	wantList(t, s, "", nil)
}

// testKeyLengthLimit: a key (or List prefix) longer than
// storage.MaxKeyLength fails every operation with ErrKeyTooLong, a batch
// whole, touches nothing, and the error does not carry the key. The
// longest key that must work is MaxKeyLength bytes, or 1 KiB for a store
// with PrefixedKeys.
func testKeyLengthLimit(t *testing.T, s Store, o Options) {
	ctx := t.Context()
	longest := "dir/" + strings.Repeat("k", storage.MaxKeyLength-len("dir/"))
	tooLong := longest + "x"
	if o.PrefixedKeys {
		longest = "dir/" + strings.Repeat("k", 1024)
		tooLong = "dir/" + strings.Repeat("k", storage.MaxKeyLength)
	}
	mustPut(t, s, longest, []byte("v"))
	wantValue(t, s, longest, []byte("v"))
	wantList(t, s, "dir/", []string{longest[len("dir/"):]})

	mustPut(t, s, "k", []byte("before"))
	op := func(name string) string { return fmt.Sprintf("%s with a %d-byte key", name, len(tooLong)) }
	_, err := s.Get(ctx, tooLong)
	wantErr(t, op("Get"), err, storage.ErrKeyTooLong)
	wantErr(t, op("Put"), s.Put(ctx, tooLong, []byte("v")), storage.ErrKeyTooLong)
	wantErr(t, op("Delete"), s.Delete(ctx, tooLong), storage.ErrKeyTooLong)
	_, err = s.List(ctx, tooLong+"/")
	wantErr(t, op("List"), err, storage.ErrKeyTooLong)
	if b, ok := s.(batcher); ok {
		wantErr(t, op("Batch"), b.Batch(ctx, []storage.Op{
			{Key: "k", Value: []byte("after")},
			{Key: tooLong, Value: []byte("v")},
		}), storage.ErrKeyTooLong)
		wantErr(t, op("Batch delete"), b.Batch(ctx, []storage.Op{{Key: tooLong, Delete: true}}), storage.ErrKeyTooLong)
	}
	wantValue(t, s, "k", []byte("before"))
	wantValue(t, s, longest, []byte("v"))
	wantList(t, s, "dir/", []string{longest[len("dir/"):]})
}

func testList(t *testing.T, s Store, _ Options) {
	for _, k := range []string{
		"a", "b/c", "b/d/e", "b/d/f", "b/g", "c/", "e//f", "foo", "foo/bar", "foo/bar/baz", "z/y/x/w",
	} {
		mustPut(t, s, k, []byte(k))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a", "b/", "c/", "e/", "foo", "foo/", "z/"}},
		{"b/", []string{"c", "d/", "g"}},
		{"b/d/", []string{"e", "f"}},
		{"c/", nil},           // the key "c/" is the prefix itself: not listed
		{"e/", []string{"/"}}, // "e//f" has an empty segment
		{"e//", []string{"f"}},
		{"foo/", []string{"bar", "bar/"}},
		{"foo/bar/", []string{"baz"}},
		{"z/", []string{"y/"}},
		{"z/y/x/", []string{"w"}},
		{"missing/", nil},
		{"a/", nil}, // "a" is a key, not a directory
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("prefix=%q", tc.prefix), func(t *testing.T) {
			wantList(t, s, tc.prefix, tc.want)
		})
	}
}

func testListAfterDelete(t *testing.T, s Store, _ Options) {
	mustPut(t, s, "d/x/1", []byte("1"))
	mustPut(t, s, "d/x/2", []byte("2"))
	mustPut(t, s, "d/y", []byte("3"))
	wantList(t, s, "d/", []string{"x/", "y"})
	mustDelete(t, s, "d/x/1")
	mustDelete(t, s, "d/x/2")
	wantList(t, s, "d/", []string{"y"})
	wantList(t, s, "d/x/", nil)
}

// testEndedContext: an operation called with an ended context fails with
// the context's error and writes nothing.
func testEndedContext(t *testing.T, s Store, _ Options) {
	mustPut(t, s, "k", []byte("before"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Get(ctx, "k")
	wantErr(t, "Get", err, context.Canceled)
	wantErr(t, "Put", s.Put(ctx, "k", []byte("after")), context.Canceled)
	wantErr(t, "Put new", s.Put(ctx, "new", []byte("v")), context.Canceled)
	wantErr(t, "Delete", s.Delete(ctx, "k"), context.Canceled)
	_, err = s.List(ctx, "")
	wantErr(t, "List", err, context.Canceled)
	if b, ok := s.(batcher); ok {
		err := b.Batch(ctx, []storage.Op{{Key: "k", Value: []byte("batched")}, {Key: "new", Value: []byte("v")}})
		wantErr(t, "Batch", err, context.Canceled)
	}
	wantValue(t, s, "k", []byte("before"))
	wantMissing(t, s, "new")
}

func testConcurrentDistinctKeys(t *testing.T, s Store, _ Options) {
	const writers, perWriter = 16, 20
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				k := fmt.Sprintf("c/%02d/%03d", w, i)
				if err := s.Put(ctx, k, []byte(k)); err != nil {
					errs <- fmt.Errorf("Put(%q) = %w", k, err)
					return
				}
				got, err := s.Get(ctx, k)
				if err != nil || !bytes.Equal(got, []byte(k)) {
					errs <- fmt.Errorf("Get(%q) after Put = (%d bytes, %v), want its own value", k, len(got), err)
					return
				}
				if _, err := s.List(ctx, "c/"); err != nil {
					errs <- fmt.Errorf("List(c/) = %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var dirs []string
	for w := range writers {
		dirs = append(dirs, fmt.Sprintf("%02d/", w))
		var want []string
		for i := range perWriter {
			want = append(want, fmt.Sprintf("%03d", i))
		}
		wantList(t, s, fmt.Sprintf("c/%02d/", w), want)
	}
	wantList(t, s, "c/", dirs)
}

// testConcurrentSameKey: readers racing writers of one key see it absent
// or holding one of the written values whole, never a torn one.
func testConcurrentSameKey(t *testing.T, s Store, _ Options) {
	const writers, perWriter = 16, 10
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	var valid []string
	for w := range writers {
		for i := range perWriter {
			valid = append(valid, fmt.Sprintf("w%d-%d-%s", w, i, strings.Repeat("x", w*i)))
		}
	}
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := s.Put(ctx, "same", []byte(valid[w*perWriter+i])); err != nil {
					errs <- fmt.Errorf("Put(same) = %w", err)
					return
				}
			}
		})
		wg.Go(func() {
			for range perWriter {
				got, err := s.Get(ctx, "same")
				if errors.Is(err, storage.ErrNotFound) {
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("Get(same) = %w", err)
					return
				}
				if !slices.Contains(valid, string(got)) {
					errs <- fmt.Errorf("Get(same) returned a torn value of %d bytes", len(got))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := s.Get(ctx, "same")
	if err != nil {
		t.Fatalf("Get(same) = %v", err)
	}
	if !slices.Contains(valid, string(got)) {
		t.Fatalf("final Get(same) returned an unknown %d-byte value", len(got))
	}
}
