package token_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/auth/token"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/sensitive"
)

// newClock is the fake clock a fixture's store runs on.
func newClock() *clocktest.Clock { return clocktest.New(time.Time{}) }

type fixture struct {
	st    *logicaltest.InmemStorage
	store *token.Store
	clock *clocktest.Clock
	root  string
	rootE *token.Entry
}

func newFixture(t testing.TB, opts token.Options) *fixture {
	t.Helper()
	f := &fixture{st: &logicaltest.InmemStorage{}, clock: newClock()}
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	s, err := token.New(context.Background(), f.st, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.store = s
	e := &token.Entry{Policies: []string{"root"}, DisplayName: "root", Path: "auth/token/root"}
	f.root, err = s.Create(context.Background(), e)
	if err != nil {
		t.Fatalf("create root token: %v", err)
	}
	f.rootE = e
	return f
}

// create makes a token with policies under parent (an accessor, "" for an orphan).
func (f *fixture) create(t testing.TB, parent string, e *token.Entry) string {
	t.Helper()
	e.ParentAccessor = parent
	tok, err := f.store.Create(context.Background(), e)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return tok
}

// request builds a backend request authenticated as tok.
func (f *fixture) request(t testing.TB, op logical.Operation, path, tok string, data map[string]any) *logical.Request {
	t.Helper()
	req := &logical.Request{
		Operation:   op,
		Path:        path,
		Data:        data,
		ClientToken: sensitive.NewString(tok),
		MountPoint:  "auth/token/",
		Connection:  &logical.Connection{RemoteAddr: "127.0.0.1"},
	}
	if e, err := f.store.Lookup(context.Background(), tok); err == nil {
		req.Token = &logical.TokenInfo{Accessor: e.Accessor, Policies: e.Policies, Root: e.IsRoot(), DisplayName: e.DisplayName}
	}
	return req
}

func (f *fixture) do(t testing.TB, op logical.Operation, path, tok string, data map[string]any) (*logical.Response, error) {
	t.Helper()
	return f.store.Backend().HandleRequest(context.Background(), f.request(t, op, path, tok, data))
}

// dump returns every key and value in the storage.
func dump(t testing.TB, st logical.Storage) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(prefix string)
	walk = func(prefix string) {
		keys, err := st.List(context.Background(), prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		for _, k := range keys {
			if strings.HasSuffix(k, "/") {
				walk(prefix + k)
				continue
			}
			v, err := st.Get(context.Background(), prefix+k)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			out[prefix+k] = string(v)
		}
	}
	walk("")
	return out
}

// countPrefix counts stored keys under prefix.
func countPrefix(t testing.TB, st logical.Storage, prefix string) int {
	t.Helper()
	n := 0
	for k := range dump(t, st) {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

func codeOf(err error) int {
	var ce *logical.CodedError
	if errors.As(err, &ce) {
		return ce.Code
	}
	if errors.Is(err, token.ErrInvalidToken) {
		return 403
	}
	return 0
}
