// Package storagetest is the conformance suite every storage.Backend passes:
// inmem, bolt, postgres and raft run the same Run. It owns no backend and
// never prints values, only keys.
package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/storage"
)

// Run runs the conformance suite. newBackend returns a fresh, empty backend
// for each subtest and registers its own cleanup on t.
func Run(t *testing.T, newBackend func(t testing.TB) storage.Backend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b storage.Backend)
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
		{"Batch", testBatch},
		{"BatchInvalidIsAtomic", testBatchInvalidIsAtomic},
		{"BatchAtomicForReaders", testBatchAtomicForReaders},
		{"ConcurrentDistinctKeys", testConcurrentDistinctKeys},
		{"ConcurrentSameKey", testConcurrentSameKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newBackend(t))
		})
	}
}

// mustPut puts value at key and fails the test on error.
func mustPut(t testing.TB, b storage.Backend, key string, value []byte) {
	t.Helper()
	if err := b.Put(t.Context(), key, value); err != nil {
		t.Fatalf("Put(%q) = %v", key, err)
	}
}

// wantValue fails the test unless key holds want.
func wantValue(t testing.TB, b storage.Backend, key string, want []byte) {
	t.Helper()
	got, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q) = %v, want a %d-byte value", key, err, len(want))
	}
	if got == nil {
		t.Fatalf("Get(%q) returned a nil slice, want a non-nil %d-byte value", key, len(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) returned a different value (len %d, want len %d)", key, len(got), len(want))
	}
}

// wantMissing fails the test unless Get(key) returns ErrNotFound.
func wantMissing(t testing.TB, b storage.Backend, key string) {
	t.Helper()
	v, err := b.Get(t.Context(), key)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(%q) = (%d bytes, %v), want ErrNotFound", key, len(v), err)
	}
}

// wantList fails the test unless List(prefix) returns want.
func wantList(t testing.TB, b storage.Backend, prefix string, want []string) {
	t.Helper()
	got, err := b.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q) = %v", prefix, err)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("List(%q) mismatch (-want +got):\n%s", prefix, diff)
	}
}

func testGetMissing(t *testing.T, b storage.Backend) {
	wantMissing(t, b, "nope")
	wantMissing(t, b, "a/b/c")
	mustPut(t, b, "a/b", []byte("x"))
	wantMissing(t, b, "a")  // a directory is not a key
	wantMissing(t, b, "a/") // nor is its slash form
	wantMissing(t, b, "a/b/c")
}

func testPutGet(t *testing.T, b storage.Backend) {
	mustPut(t, b, "k", []byte("v1"))
	mustPut(t, b, "dir/k", []byte("v2"))
	wantValue(t, b, "k", []byte("v1"))
	wantValue(t, b, "dir/k", []byte("v2"))
}

func testOverwrite(t *testing.T, b storage.Backend) {
	mustPut(t, b, "k", []byte("a longer first value"))
	mustPut(t, b, "k", []byte("short"))
	wantValue(t, b, "k", []byte("short"))
}

func testDelete(t *testing.T, b storage.Backend) {
	mustPut(t, b, "k", []byte("v"))
	mustPut(t, b, "k2", []byte("v2"))
	if err := b.Delete(t.Context(), "k"); err != nil {
		t.Fatalf("Delete(k) = %v", err)
	}
	wantMissing(t, b, "k")
	wantValue(t, b, "k2", []byte("v2"))
	if err := b.Delete(t.Context(), "k"); err != nil {
		t.Fatalf("Delete of an absent key = %v, want nil", err)
	}
	if err := b.Delete(t.Context(), "never/existed"); err != nil {
		t.Fatalf("Delete(never/existed) = %v, want nil", err)
	}
}

func testEmptyValue(t *testing.T, b storage.Backend) {
	mustPut(t, b, "empty", []byte{})
	mustPut(t, b, "nil", nil)
	wantValue(t, b, "empty", []byte{})
	wantValue(t, b, "nil", []byte{})
	wantMissing(t, b, "absent")
	wantList(t, b, "", []string{"empty", "nil"})
}

func testBinaryValues(t *testing.T, b storage.Backend) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := bytes.Repeat([]byte{0, 0xff, '\n', 0x80}, 64<<10) // 256 KiB, spans pages
	tests := []struct {
		name  string
		value []byte
	}{
		{"nul", []byte{0}},
		{"all-bytes", all},
		{"invalid-utf8", []byte{0xc3, 0x28, 0xff, 0xfe}},
		{"big", big},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustPut(t, b, "bin/"+tc.name, tc.value)
			wantValue(t, b, "bin/"+tc.name, tc.value)
		})
	}
}

func testValuesAreCopied(t *testing.T, b storage.Backend) {
	in := []byte("original")
	mustPut(t, b, "k", in)
	copy(in, "MUTATED!")
	wantValue(t, b, "k", []byte("original"))

	got, err := b.Get(t.Context(), "k")
	if err != nil {
		t.Fatalf("Get(k) = %v", err)
	}
	copy(got, "MUTATED!")
	wantValue(t, b, "k", []byte("original"))

	ops := []storage.Op{{Key: "b", Value: []byte("batched")}}
	if err := b.Batch(t.Context(), ops); err != nil {
		t.Fatalf("Batch = %v", err)
	}
	copy(ops[0].Value, "MUTATED")
	wantValue(t, b, "b", []byte("batched"))
}

func testOddKeys(t *testing.T, b storage.Backend) {
	long := strings.Repeat("k", 1024)
	keys := []string{
		"with space",
		"tab\there",
		"unicode/ключ/鍵/🔑",
		"dir/" + long,
		long,
		"a-b", "a.b", "a0", "a/b", "a", // sort around '/' (0x2f)
		"dots/../x",
		"trailing\x00nul",
	}
	for i, k := range keys {
		mustPut(t, b, k, []byte(fmt.Sprint(i)))
	}
	for i, k := range keys {
		wantValue(t, b, k, []byte(fmt.Sprint(i)))
	}
	wantList(t, b, "", []string{"a", "a-b", "a.b", "a/", "a0", "dir/", "dots/", long, "tab\there", "trailing\x00nul", "unicode/", "with space"})
	wantList(t, b, "unicode/", []string{"ключ/"})
	wantList(t, b, "unicode/ключ/", []string{"鍵/"})
	wantList(t, b, "unicode/ключ/鍵/", []string{"🔑"})
	wantList(t, b, "dir/", []string{long})
	wantList(t, b, "dots/", []string{"../"})
}

func testEmptyKeyRejected(t *testing.T, b storage.Backend) {
	if err := b.Put(t.Context(), "", []byte("v")); err == nil {
		t.Fatal(`Put("") = nil, want an error`)
	}
	wantList(t, b, "", nil)
}

// testKeyLengthLimit: MaxKeyLength bytes work everywhere; one more fails
// every operation with ErrKeyTooLong, atomically for a batch, and the error
// does not carry the multi-KB key.
func testKeyLengthLimit(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	longest := "dir/" + strings.Repeat("k", storage.MaxKeyLength-len("dir/"))
	mustPut(t, b, longest, []byte("v"))
	wantValue(t, b, longest, []byte("v"))
	wantList(t, b, "dir/", []string{longest[len("dir/"):]})

	tooLong := longest + "x"
	mustPut(t, b, "k", []byte("before"))
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, storage.ErrKeyTooLong) {
			t.Errorf("%s with a %d-byte key = %v, want ErrKeyTooLong", op, len(tooLong), err)
			return
		}
		if n := len(err.Error()); n > 512 {
			t.Errorf("%s error is %d bytes long: it carries the key", op, n)
		}
	}
	_, err := b.Get(ctx, tooLong)
	check("Get", err)
	check("Put", b.Put(ctx, tooLong, []byte("v")))
	check("Delete", b.Delete(ctx, tooLong))
	_, err = b.List(ctx, tooLong+"/")
	check("List", err)
	check("Batch", b.Batch(ctx, []storage.Op{
		{Key: "k", Value: []byte("after")},
		{Key: tooLong, Value: []byte("v")},
	}))
	check("Batch delete", b.Batch(ctx, []storage.Op{{Key: tooLong, Delete: true}}))
	wantValue(t, b, "k", []byte("before"))
	wantValue(t, b, longest, []byte("v"))
	wantList(t, b, "dir/", []string{longest[len("dir/"):]})
}

func testList(t *testing.T, b storage.Backend) {
	for _, k := range []string{
		"a", "b/c", "b/d/e", "b/d/f", "b/g", "c/", "foo", "foo/bar", "foo/bar/baz", "z/y/x/w",
	} {
		mustPut(t, b, k, []byte(k))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a", "b/", "c/", "foo", "foo/", "z/"}},
		{"b/", []string{"c", "d/", "g"}},
		{"b/d/", []string{"e", "f"}},
		{"c/", nil}, // the key "c/" is the prefix itself
		{"foo/", []string{"bar", "bar/"}},
		{"foo/bar/", []string{"baz"}},
		{"z/", []string{"y/"}},
		{"z/y/x/", []string{"w"}},
		{"missing/", nil},
		{"a/", nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("prefix=%q", tc.prefix), func(t *testing.T) {
			wantList(t, b, tc.prefix, tc.want)
		})
	}
}

func testListAfterDelete(t *testing.T, b storage.Backend) {
	mustPut(t, b, "d/x/1", []byte("1"))
	mustPut(t, b, "d/x/2", []byte("2"))
	mustPut(t, b, "d/y", []byte("3"))
	wantList(t, b, "d/", []string{"x/", "y"})
	for _, k := range []string{"d/x/1", "d/x/2"} {
		if err := b.Delete(t.Context(), k); err != nil {
			t.Fatalf("Delete(%q) = %v", k, err)
		}
	}
	wantList(t, b, "d/", []string{"y"})
	wantList(t, b, "d/x/", nil)
}

func testBatch(t *testing.T, b storage.Backend) {
	mustPut(t, b, "old", []byte("old"))
	mustPut(t, b, "keep", []byte("keep"))
	ops := []storage.Op{
		{Key: "new/1", Value: []byte("one")},
		{Key: "old", Delete: true},
		{Key: "dup", Value: []byte("first")},
		{Key: "dup", Value: []byte("second")},
		{Key: "gone", Value: []byte("x")},
		{Key: "gone", Delete: true},
		{Key: "absent", Delete: true},
	}
	if err := b.Batch(t.Context(), ops); err != nil {
		t.Fatalf("Batch = %v", err)
	}
	wantValue(t, b, "new/1", []byte("one"))
	wantMissing(t, b, "old")
	wantValue(t, b, "dup", []byte("second"))
	wantMissing(t, b, "gone")
	wantValue(t, b, "keep", []byte("keep"))
	if err := b.Batch(t.Context(), nil); err != nil {
		t.Fatalf("Batch(nil) = %v, want nil", err)
	}
}

func testBatchInvalidIsAtomic(t *testing.T, b storage.Backend) {
	mustPut(t, b, "k", []byte("before"))
	ops := []storage.Op{
		{Key: "k", Value: []byte("after")},
		{Key: "other", Value: []byte("x")},
		{Key: "", Value: []byte("invalid")},
	}
	if err := b.Batch(t.Context(), ops); err == nil {
		t.Fatal("Batch with an empty key = nil, want an error")
	}
	wantValue(t, b, "k", []byte("before"))
	wantMissing(t, b, "other")
}

// testBatchAtomicForReaders flips between {x/a} and {x/b} with batches that
// put one key and delete the other; a List must never see both or neither.
func testBatchAtomicForReaders(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	mustPut(t, b, "x/a", []byte("a"))
	const flips = 100
	var wg sync.WaitGroup
	done := make(chan struct{})
	errc := make(chan error, 1)
	wg.Go(func() {
		defer close(done)
		for i := range flips {
			on, off := "x/b", "x/a"
			if i%2 == 1 {
				on, off = off, on
			}
			if err := b.Batch(ctx, []storage.Op{{Key: off, Delete: true}, {Key: on, Value: []byte("v")}}); err != nil {
				errc <- fmt.Errorf("batch flip %d: %w", i, err)
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
				names, err := b.List(ctx, "x/")
				if err != nil {
					select {
					case errc <- fmt.Errorf("List(x/) = %w", err):
					default:
					}
					return
				}
				if len(names) != 1 {
					select {
					case errc <- fmt.Errorf("List(x/) = %q mid-batch, want exactly one name", names):
					default:
					}
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
	wantList(t, b, "x/", []string{"a"})
}

func testConcurrentDistinctKeys(t *testing.T, b storage.Backend) {
	const writers, perWriter = 16, 20
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				k := fmt.Sprintf("c/%02d/%03d", w, i)
				if err := b.Put(ctx, k, []byte(k)); err != nil {
					errs <- fmt.Errorf("Put(%q) = %w", k, err)
					return
				}
				got, err := b.Get(ctx, k)
				if err != nil || !bytes.Equal(got, []byte(k)) {
					errs <- fmt.Errorf("Get(%q) after Put = (%d bytes, %v), want its own value", k, len(got), err)
					return
				}
				if _, err := b.List(ctx, "c/"); err != nil {
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
		wantList(t, b, fmt.Sprintf("c/%02d/", w), want)
	}
	wantList(t, b, "c/", dirs)
}

func testConcurrentSameKey(t *testing.T, b storage.Backend) {
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
				if err := b.Put(ctx, "same", []byte(valid[w*perWriter+i])); err != nil {
					errs <- fmt.Errorf("Put(same) = %w", err)
					return
				}
			}
		})
		wg.Go(func() {
			for range perWriter {
				got, err := b.Get(ctx, "same")
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
	got, err := b.Get(ctx, "same")
	if err != nil {
		t.Fatalf("Get(same) = %v", err)
	}
	if !slices.Contains(valid, string(got)) {
		t.Fatalf("final Get(same) returned an unknown %d-byte value", len(got))
	}
}
