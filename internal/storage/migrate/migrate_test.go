package migrate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/keyward/keyward/internal/storage"
	"github.com/keyward/keyward/internal/storage/faulty"
	"github.com/keyward/keyward/internal/storage/inmem"
	"github.com/keyward/keyward/internal/storage/migrate"
)

// fill puts kv into a fresh in-memory store.
func fill(t testing.TB, kv map[string][]byte) *inmem.Store {
	t.Helper()
	s := inmem.New()
	for k, v := range kv {
		if err := s.Put(t.Context(), k, v); err != nil {
			t.Fatalf("Put(%q) = %v", k, err)
		}
	}
	return s
}

// dump returns every key and value of s, walking List.
func dump(t testing.TB, s storage.Backend) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var walk func(prefix string)
	walk = func(prefix string) {
		names, err := s.List(t.Context(), prefix)
		if err != nil {
			t.Fatalf("List(%q) = %v", prefix, err)
		}
		for _, n := range names {
			if strings.HasSuffix(n, "/") {
				walk(prefix + n)
				continue
			}
			v, err := s.Get(t.Context(), prefix+n)
			if err != nil {
				t.Fatalf("Get(%q) = %v", prefix+n, err)
			}
			out[prefix+n] = v
		}
	}
	walk("")
	return out
}

func equal(t testing.TB, got, want map[string][]byte) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("key %q missing from destination", k)
		} else if !bytes.Equal(g, v) {
			t.Errorf("key %q: value of %d bytes differs from the source's %d", k, len(g), len(v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("destination has extra key %q", k)
		}
	}
}

// recorder counts the batches written to a backend and their keys.
type recorder struct {
	storage.Backend
	batches [][]string
}

func (r *recorder) Batch(ctx context.Context, ops []storage.Op) error {
	var keys []string
	for _, op := range ops {
		keys = append(keys, op.Key)
	}
	r.batches = append(r.batches, keys)
	return r.Backend.Batch(ctx, ops)
}

func nested() map[string][]byte {
	return map[string][]byte{
		"core/seal-config":     []byte("c1"),
		"core/keyring":         []byte("c2"),
		"a":                    []byte("x"),
		"a-b":                  []byte("y"), // sorts between "a" and "a/…"
		"a/b/c/d/e":            []byte("deep"),
		"a/b/c":                []byte("key beside a directory of the same name"),
		"a/b0":                 []byte("z"),
		"logical/1/metadata/x": {0, 1, 2, 255},
		"sys/empty":            {},
	}
}

func TestCopy(t *testing.T) {
	big := bytes.Repeat([]byte{0xab}, 3<<20)
	for _, tc := range []struct {
		name    string
		src     map[string][]byte
		opts    migrate.Options
		batches int
	}{
		{name: "empty", src: map[string][]byte{}, batches: 0},
		{name: "nested directories", src: nested(), batches: 1},
		{name: "one key per batch", src: nested(), opts: migrate.Options{MaxBatchOps: 1}, batches: len(nested())},
		{name: "big values alone in a batch", src: map[string][]byte{"a": []byte("1"), "b": big, "c": big, "d": []byte("2")}, batches: 4},
		{name: "split by bytes", src: func() map[string][]byte {
			m := map[string][]byte{}
			for i := range 100 {
				m[fmt.Sprintf("k/%03d", i)] = bytes.Repeat([]byte{byte(i)}, 1000)
			}
			return m
		}(), opts: migrate.Options{MaxBatchBytes: 10_000}, batches: 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := fill(t, tc.src)
			dst := &recorder{Backend: inmem.New()}
			n, err := migrate.Copy(t.Context(), dst, src, tc.opts)
			if err != nil {
				t.Fatalf("Copy = %v", err)
			}
			if n != len(tc.src) {
				t.Errorf("Copy copied %d keys, want %d", n, len(tc.src))
			}
			equal(t, dump(t, dst), tc.src)
			if len(dst.batches) != tc.batches {
				t.Errorf("Copy wrote %d batches, want %d", len(dst.batches), tc.batches)
			}
			var order []string
			for _, b := range dst.batches {
				order = append(order, b...)
			}
			if !slices.IsSorted(order) {
				t.Errorf("keys copied out of order: %q", order)
			}
			limit := tc.opts.MaxBatchBytes
			if limit == 0 {
				limit = migrate.DefaultMaxBatchBytes
			}
			for _, b := range dst.batches {
				size := migrate.BatchOverhead
				for _, k := range b {
					size += migrate.OpOverhead + len(k) + len(tc.src[k])
				}
				if size > limit && len(b) > 1 {
					t.Errorf("batch %q is %d bytes, over the %d limit", b, size, limit)
				}
			}
		})
	}
}

func TestCopyRefusesNonEmptyDestination(t *testing.T) {
	src := fill(t, nested())
	dst := fill(t, map[string][]byte{"core/seal-config": []byte("another store")})
	n, err := migrate.Copy(t.Context(), dst, src, migrate.Options{})
	if !errors.Is(err, migrate.ErrDestinationNotEmpty) || n != 0 {
		t.Fatalf("Copy = %d, %v, want 0, ErrDestinationNotEmpty", n, err)
	}
	if v, _ := dst.Get(t.Context(), "core/seal-config"); string(v) != "another store" {
		t.Errorf("destination changed: %q", v)
	}
}

func TestCopyRefusesSameBackend(t *testing.T) {
	s := fill(t, nested())
	if _, err := migrate.Copy(t.Context(), s, s, migrate.Options{Start: "a"}); !errors.Is(err, migrate.ErrSameBackend) {
		t.Fatalf("Copy(s, s) = %v, want ErrSameBackend", err)
	}
}

func TestCopyStart(t *testing.T) {
	src := fill(t, nested())
	for _, tc := range []struct {
		start string
		want  []string
	}{
		{"a/b", []string{"a/b/c", "a/b/c/d/e", "a/b0", "core/keyring", "core/seal-config", "logical/1/metadata/x", "sys/empty"}},
		{"a/b/c/", []string{"a/b/c/d/e", "a/b0", "core/keyring", "core/seal-config", "logical/1/metadata/x", "sys/empty"}},
		{"core/s", []string{"core/seal-config", "logical/1/metadata/x", "sys/empty"}},
		{"logical/", []string{"logical/1/metadata/x", "sys/empty"}},
		{"zzz", nil},
	} {
		t.Run(tc.start, func(t *testing.T) {
			// A non-empty destination is allowed with Start.
			dst := fill(t, map[string][]byte{"a": []byte("x")})
			n, err := migrate.Copy(t.Context(), dst, src, migrate.Options{Start: tc.start})
			if err != nil {
				t.Fatalf("Copy(start %q) = %v", tc.start, err)
			}
			if n != len(tc.want) {
				t.Errorf("Copy(start %q) copied %d, want %d", tc.start, n, len(tc.want))
			}
			want := map[string][]byte{"a": []byte("x")}
			for _, k := range tc.want {
				want[k] = nested()[k]
			}
			equal(t, dump(t, dst), want)
		})
	}
}

// A copy cut short by a failing destination names where to resume, and
// running it again from there completes it.
func TestCopyInterruptedResumes(t *testing.T) {
	kv := map[string][]byte{}
	for i := range 50 {
		kv[fmt.Sprintf("logical/%02d/v", i)] = bytes.Repeat([]byte{byte(i)}, 100)
	}
	src := fill(t, kv)
	inner := inmem.New()
	dst := faulty.New(inner)
	dst.FailAfter(2000, syscall.ENOSPC)
	opts := migrate.Options{MaxBatchOps: 4}
	n, err := migrate.Copy(t.Context(), dst, src, opts)
	var ie *migrate.InterruptedError
	if !errors.As(err, &ie) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Copy = %v, want an InterruptedError wrapping ENOSPC", err)
	}
	if n == 0 || n >= len(kv) || ie.Copied != n {
		t.Fatalf("Copy copied %d (error says %d) of %d before failing", n, ie.Copied, len(kv))
	}
	copied := dump(t, inner)
	if len(copied) != n {
		t.Errorf("destination holds %d keys, Copy reported %d", len(copied), n)
	}
	for k := range copied {
		if k >= ie.Resume {
			t.Errorf("key %q at or after the resume point %q is already copied", k, ie.Resume)
		}
	}
	if _, err := migrate.Copy(t.Context(), dst, src, migrate.Options{Start: ie.Resume}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("resumed Copy on the still failing destination = %v", err)
	}
	if _, err := migrate.Copy(t.Context(), dst, src, migrate.Options{}); !errors.Is(err, migrate.ErrDestinationNotEmpty) {
		t.Fatalf("rerun without Start = %v, want ErrDestinationNotEmpty", err)
	}
	dst.Recover()
	opts.Start = ie.Resume
	m, err := migrate.Copy(t.Context(), dst, src, opts)
	if err != nil {
		t.Fatalf("resumed Copy = %v", err)
	}
	if n+m != len(kv) {
		t.Errorf("copied %d then %d keys, want %d in all", n, m, len(kv))
	}
	equal(t, dump(t, inner), kv)
}

// failingReads fails Get of one key.
type failingReads struct {
	storage.Backend
	key string
}

func (f failingReads) Get(ctx context.Context, key string) ([]byte, error) {
	if key == f.key {
		return nil, syscall.EIO
	}
	return f.Backend.Get(ctx, key)
}

// A source read failure stops the copy before the key that failed and the
// batch pending with it.
func TestCopySourceFailure(t *testing.T) {
	src := fill(t, nested())
	dst := inmem.New()
	_, err := migrate.Copy(t.Context(), dst, failingReads{src, "core/keyring"}, migrate.Options{MaxBatchOps: 2})
	var ie *migrate.InterruptedError
	if !errors.As(err, &ie) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Copy = %v, want an InterruptedError wrapping EIO", err)
	}
	if ie.Resume > "core/keyring" {
		t.Errorf("resume point %q is past the key that failed", ie.Resume)
	}
	if !strings.Contains(err.Error(), "core/keyring") {
		t.Errorf("error %q does not name the key", err)
	}
	if _, err := migrate.Copy(t.Context(), dst, src, migrate.Options{Start: ie.Resume}); err != nil {
		t.Fatalf("resumed Copy = %v", err)
	}
	equal(t, dump(t, dst), nested())
}

// Values never appear in errors, even when the destination refuses them.
func TestCopyErrorsNameNoValue(t *testing.T) {
	canary := "canary-" + strings.Repeat("v", 20)
	src := fill(t, map[string][]byte{"k": []byte(canary)})
	dst := faulty.New(inmem.New())
	dst.FailWrites(syscall.EIO)
	_, err := migrate.Copy(t.Context(), dst, src, migrate.Options{})
	if err == nil || strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), canary) {
		t.Fatalf("Copy error %v leaks the value or is nil", err)
	}
}
