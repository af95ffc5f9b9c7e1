package logicaltest

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

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage"
)

// RunStorage runs the logical.Storage conformance suite: the semantics a
// backend sees through its mount's view of the real stack (barrier over a
// storage.Backend). Get returns (nil, nil) for an absent key and a non-nil
// slice, empty or not, for a present one; values are copied in and out;
// Delete of an absent key succeeds; List has storage.Backend.List semantics
// for a prefix that is "" or ends in "/"; an empty key fails with
// logical.ErrInvalidRequest and a key longer than storage.MaxKeyLength
// with storage.ErrKeyTooLong, writing nothing; an ended context fails
// every operation. When the storage implements logical.BatchStorage its
// batches apply in order, atomically, also for concurrent readers; the
// batch subtests are skipped for one that does not.
//
// newStorage returns a fresh, empty storage for each subtest and registers
// its own cleanup on t. The suite uses no key under "core/", which the
// barrier reserves.
func RunStorage(t *testing.T, newStorage func(t testing.TB) logical.Storage) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s logical.Storage)
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
		fn   func(t *testing.T, s logical.Storage, bs logical.BatchStorage)
	}{
		{"Batch", testBatch},
		{"BatchValuesAreCopied", testBatchValuesAreCopied},
		{"BatchInvalidIsAtomic", testBatchInvalidIsAtomic},
		{"BatchAtomicForReaders", testBatchAtomicForReaders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStorage(t))
		})
	}
	for _, tc := range batchTests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStorage(t)
			bs, ok := s.(logical.BatchStorage)
			if !ok {
				t.Skipf("%T does not implement logical.BatchStorage", s)
			}
			tc.fn(t, s, bs)
		})
	}
}

// mustPut puts value at key and fails the test on error.
func mustPut(t testing.TB, s logical.Storage, key string, value []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, value); err != nil {
		t.Fatalf("Put(%q) = %v", storage.LogKey(key), err)
	}
}

// mustDelete deletes key and fails the test on error.
func mustDelete(t testing.TB, s logical.Storage, key string) {
	t.Helper()
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatalf("Delete(%q) = %v", storage.LogKey(key), err)
	}
}

// wantValue fails the test unless key holds want.
func wantValue(t testing.TB, s logical.Storage, key string, want []byte) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q) = %v, want a %d-byte value", storage.LogKey(key), err, len(want))
	}
	if got == nil {
		t.Fatalf("Get(%q) = nil, want a non-nil %d-byte value", storage.LogKey(key), len(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) returned a different value (len %d, want len %d)", storage.LogKey(key), len(got), len(want))
	}
}

// wantMissing fails the test unless Get(key) returns (nil, nil).
func wantMissing(t testing.TB, s logical.Storage, key string) {
	t.Helper()
	v, err := s.Get(t.Context(), key)
	if err != nil || v != nil {
		t.Fatalf("Get(%q) = (%d bytes, nil slice %v, %v), want (nil, nil)", storage.LogKey(key), len(v), v == nil, err)
	}
}

// wantList fails the test unless List(prefix) returns want; nil and empty
// are the same listing.
func wantList(t testing.TB, s logical.Storage, prefix string, want []string) {
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

// wantErr fails the test unless err wraps target and is short enough not
// to carry a multi-KB key.
func wantErr(t testing.TB, op string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s = %v, want an error wrapping %q", op, err, target)
		return
	}
	if n := len(err.Error()); n > 512 {
		t.Errorf("%s error is %d bytes long: it carries the key", op, n)
	}
}

func testGetMissing(t *testing.T, s logical.Storage) {
	wantMissing(t, s, "nope")
	wantMissing(t, s, "a/b/c")
	mustPut(t, s, "a/b", []byte("x"))
	wantMissing(t, s, "a")  // a directory is not a key
	wantMissing(t, s, "a/") // nor is its slash form
	wantMissing(t, s, "a/b/c")
}

func testPutGet(t *testing.T, s logical.Storage) {
	mustPut(t, s, "k", []byte("v1"))
	mustPut(t, s, "dir/k", []byte("v2"))
	wantValue(t, s, "k", []byte("v1"))
	wantValue(t, s, "dir/k", []byte("v2"))
}

func testOverwrite(t *testing.T, s logical.Storage) {
	mustPut(t, s, "k", []byte("a longer first value"))
	mustPut(t, s, "k", []byte("short"))
	wantValue(t, s, "k", []byte("short"))
}

func testDelete(t *testing.T, s logical.Storage) {
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
func testEmptyValue(t *testing.T, s logical.Storage) {
	mustPut(t, s, "empty", []byte{})
	mustPut(t, s, "nil", nil)
	wantValue(t, s, "empty", []byte{})
	wantValue(t, s, "nil", []byte{})
	wantMissing(t, s, "absent")
	wantList(t, s, "", []string{"empty", "nil"})
}

func testBinaryValues(t *testing.T, s logical.Storage) {
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
		{"big", bytes.Repeat([]byte{0, 0xff, '\n', 0x80}, 64<<10)}, // 256 KiB
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustPut(t, s, "bin/"+tc.name, tc.value)
			wantValue(t, s, "bin/"+tc.name, tc.value)
		})
	}
}

func testValuesAreCopied(t *testing.T, s logical.Storage) {
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
// between '.' and '0').
func testOddKeys(t *testing.T, s logical.Storage) {
	long := strings.Repeat("k", 1024)
	keys := []string{
		"with space",
		"tab\there",
		"unicode/ключ/鍵/🔑",
		"dir/" + long,
		long,
		"a-b", "a.b", "a0", "a/b", "a",
		"trailing\x00nul",
		"dots/.../x", // only ".." is special, and only to a view
	}
	for i, k := range keys {
		mustPut(t, s, k, []byte(fmt.Sprint(i)))
	}
	for i, k := range keys {
		wantValue(t, s, k, []byte(fmt.Sprint(i)))
	}
	wantList(t, s, "", []string{"a", "a-b", "a.b", "a/", "a0", "dir/", "dots/", long, "tab\there", "trailing\x00nul", "unicode/", "with space"})
	wantList(t, s, "unicode/", []string{"ключ/"})
	wantList(t, s, "unicode/ключ/", []string{"鍵/"})
	wantList(t, s, "unicode/ключ/鍵/", []string{"🔑"})
	wantList(t, s, "dir/", []string{long})
	wantList(t, s, "dots/", []string{".../"})
}

// testEmptyKeyRejected: the empty key is nobody's, so every operation on
// it is the caller's error.
func testEmptyKeyRejected(t *testing.T, s logical.Storage) {
	ctx := t.Context()
	_, err := s.Get(ctx, "")
	wantErr(t, `Get("")`, err, logical.ErrInvalidRequest)
	wantErr(t, `Put("")`, s.Put(ctx, "", []byte("v")), logical.ErrInvalidRequest)
	wantErr(t, `Delete("")`, s.Delete(ctx, ""), logical.ErrInvalidRequest)
	wantList(t, s, "", nil)
}

// testKeyLengthLimit: a key (or List prefix) longer than
// storage.MaxKeyLength fails every operation with ErrKeyTooLong, touches
// nothing, and the error does not carry the key. A view adds its prefix to
// the key before the limit applies, so the suite checks the limit from
// above and a 1 KiB key from below.
func testKeyLengthLimit(t *testing.T, s logical.Storage) {
	ctx := t.Context()
	kib := "dir/" + strings.Repeat("k", 1024)
	mustPut(t, s, kib, []byte("v"))
	wantValue(t, s, kib, []byte("v"))

	tooLong := "dir/" + strings.Repeat("k", storage.MaxKeyLength)
	_, err := s.Get(ctx, tooLong)
	wantErr(t, "Get", err, storage.ErrKeyTooLong)
	wantErr(t, "Put", s.Put(ctx, tooLong, []byte("v")), storage.ErrKeyTooLong)
	wantErr(t, "Delete", s.Delete(ctx, tooLong), storage.ErrKeyTooLong)
	_, err = s.List(ctx, tooLong+"/")
	wantErr(t, "List", err, storage.ErrKeyTooLong)
	wantValue(t, s, kib, []byte("v"))
	wantList(t, s, "dir/", []string{kib[len("dir/"):]})
}

func testList(t *testing.T, s logical.Storage) {
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

func testListAfterDelete(t *testing.T, s logical.Storage) {
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
func testEndedContext(t *testing.T, s logical.Storage) {
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
	if bs, ok := s.(logical.BatchStorage); ok {
		err := bs.Batch(ctx, []logical.BatchOp{{Key: "k", Value: []byte("batched")}, {Key: "new", Value: []byte("v")}})
		wantErr(t, "Batch", err, context.Canceled)
	}
	wantValue(t, s, "k", []byte("before"))
	wantMissing(t, s, "new")
}

func testConcurrentDistinctKeys(t *testing.T, s logical.Storage) {
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

func testConcurrentSameKey(t *testing.T, s logical.Storage) {
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
				if err != nil {
					errs <- fmt.Errorf("Get(same) = %w", err)
					return
				}
				if got != nil && !slices.Contains(valid, string(got)) {
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

// testBatch: ops apply in order, so a later op on a key wins; a nil Value
// deletes, an empty one stores an empty value; an empty batch succeeds.
func testBatch(t *testing.T, s logical.Storage, bs logical.BatchStorage) {
	mustPut(t, s, "old", []byte("old"))
	mustPut(t, s, "keep", []byte("keep"))
	ops := []logical.BatchOp{
		{Key: "new/1", Value: []byte("one")},
		{Key: "old"},
		{Key: "dup", Value: []byte("first")},
		{Key: "dup", Value: []byte("second")},
		{Key: "gone", Value: []byte("x")},
		{Key: "gone"},
		{Key: "absent"},
		{Key: "empty", Value: []byte{}},
	}
	if err := bs.Batch(t.Context(), ops); err != nil {
		t.Fatalf("Batch = %v", err)
	}
	wantValue(t, s, "new/1", []byte("one"))
	wantMissing(t, s, "old")
	wantValue(t, s, "dup", []byte("second"))
	wantMissing(t, s, "gone")
	wantMissing(t, s, "absent")
	wantValue(t, s, "empty", []byte{})
	wantValue(t, s, "keep", []byte("keep"))
	wantList(t, s, "", []string{"dup", "empty", "keep", "new/"})
	if err := bs.Batch(t.Context(), nil); err != nil {
		t.Fatalf("Batch(nil) = %v, want nil", err)
	}
}

func testBatchValuesAreCopied(t *testing.T, s logical.Storage, bs logical.BatchStorage) {
	ops := []logical.BatchOp{{Key: "b", Value: []byte("batched")}}
	if err := bs.Batch(t.Context(), ops); err != nil {
		t.Fatalf("Batch = %v", err)
	}
	copy(ops[0].Value, "MUTATED")
	wantValue(t, s, "b", []byte("batched"))
}

// testBatchInvalidIsAtomic: one invalid op (empty or too long key) fails
// the batch and none of its other ops lands.
func testBatchInvalidIsAtomic(t *testing.T, s logical.Storage, bs logical.BatchStorage) {
	mustPut(t, s, "k", []byte("before"))
	mustPut(t, s, "del", []byte("stays"))
	tests := []struct {
		name   string
		bad    string
		target error
	}{
		{"an empty key", "", logical.ErrInvalidRequest},
		{"a too long key", "dir/" + strings.Repeat("k", storage.MaxKeyLength), storage.ErrKeyTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, badOp := range []logical.BatchOp{{Key: tc.bad, Value: []byte("v")}, {Key: tc.bad}} {
				err := bs.Batch(t.Context(), []logical.BatchOp{
					{Key: "k", Value: []byte("after")},
					{Key: "other", Value: []byte("x")},
					{Key: "del"},
					badOp,
				})
				wantErr(t, "Batch with "+tc.name, err, tc.target)
				wantValue(t, s, "k", []byte("before"))
				wantValue(t, s, "del", []byte("stays"))
				wantMissing(t, s, "other")
			}
		})
	}
}

// testBatchAtomicForReaders flips between {x/a} and {x/b} with batches that
// delete one key and put the other; a List must never see both or neither.
func testBatchAtomicForReaders(t *testing.T, s logical.Storage, bs logical.BatchStorage) {
	ctx := t.Context()
	mustPut(t, s, "x/a", []byte("a"))
	const flips = 100
	var wg sync.WaitGroup
	done := make(chan struct{})
	errc := make(chan error, 1)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	wg.Go(func() {
		defer close(done)
		for i := range flips {
			on, off := "x/b", "x/a"
			if i%2 == 1 {
				on, off = off, on
			}
			if err := bs.Batch(ctx, []logical.BatchOp{{Key: off}, {Key: on, Value: []byte("v")}}); err != nil {
				report(fmt.Errorf("batch flip %d: %w", i, err))
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				names, err := s.List(ctx, "x/")
				if err != nil {
					report(fmt.Errorf("List(x/) = %w", err))
					return
				}
				if len(names) != 1 {
					report(fmt.Errorf("List(x/) = %q mid-batch, want exactly one name", names))
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	wantList(t, s, "x/", []string{"a"})
}
