// Package routetest is test support for a backend's route table: the
// checks every backend's route test makes (which paths are served without
// a token, create versus update, how an unknown path and a wrong operation
// are refused, what help documents) in one place, so each backend's test
// lists only its own expectations. It is imported only by tests.
package routetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/logical"
)

// Unauthenticated checks that b serves exactly want without a token.
func Unauthenticated(t testing.TB, b logical.Backend, want ...string) {
	t.Helper()
	u, ok := b.(logical.Unauthenticated)
	if !ok {
		t.Errorf("%T does not list unauthenticated paths", b)
		return
	}
	if got := u.UnauthenticatedPaths(); !slices.Equal(got, want) {
		t.Errorf("UnauthenticatedPaths = %q, want %q", got, want)
	}
}

// Existence says what an update's existence check must report for each
// path: the record exists, it does not, or the path has no check.
type Existence struct {
	Exists, Absent, NoCheck []string
}

// ExistenceChecks runs b's existence check for an update of each path in
// want, with storage s on the request (nil where b holds its own).
func ExistenceChecks(t testing.TB, b logical.Backend, s logical.Storage, want Existence) {
	t.Helper()
	ec, ok := b.(logical.ExistenceChecker)
	if !ok {
		t.Errorf("%T has no existence check", b)
		return
	}
	check := func(paths []string, wantFound, wantExists bool) {
		t.Helper()
		for _, p := range paths {
			found, exists, err := ec.ExistenceCheck(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: p, Storage: s})
			if err != nil || found != wantFound || exists != wantExists {
				t.Errorf("ExistenceCheck(%s) = %v %v %v, want %v %v <nil>", p, found, exists, err, wantFound, wantExists)
			}
		}
	}
	check(want.Exists, true, true)
	check(want.Absent, true, false)
	check(want.NoCheck, false, false)
}

// Refusal lists requests b must refuse, each written as "operation path"
// ("read login"): a wrong operation on a served path, and a path b does
// not serve.
type Refusal struct {
	WrongOperation, UnknownPath []string
}

// Refusals sends each request in want to b, with storage s (nil where b
// holds its own), and checks it is refused with logical.ErrUnsupportedOperation
// or logical.ErrUnsupportedPath as listed.
func Refusals(t testing.TB, b logical.Backend, s logical.Storage, want Refusal) {
	t.Helper()
	check := func(reqs []string, wantErr error) {
		t.Helper()
		for _, r := range reqs {
			op, path, ok := strings.Cut(r, " ")
			if !ok {
				t.Fatalf("routetest: %q is not \"operation path\"", r)
			}
			if _, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.Operation(op), Path: path, Storage: s}); !errors.Is(err, wantErr) {
				t.Errorf("%s %s: %v, want %v", op, path, err, wantErr)
			}
		}
	}
	check(want.WrongOperation, logical.ErrUnsupportedOperation)
	check(want.UnknownPath, logical.ErrUnsupportedPath)
}

// Help checks that b's help for each path, mounted at mount, contains
// every listed text.
func Help(t testing.TB, b logical.Backend, mount string, want map[string][]string) {
	t.Helper()
	h, ok := b.(logical.Helper)
	if !ok {
		t.Errorf("%T has no help", b)
		return
	}
	for path, texts := range want {
		resp, err := h.Help(context.Background(), &logical.Request{Operation: logical.HelpOperation, Path: path, MountPoint: mount})
		if err != nil {
			t.Errorf("help %q: %v", path, err)
			continue
		}
		for _, w := range texts {
			if !strings.Contains(string(resp.Raw), w) {
				t.Errorf("help %q lacks %q", path, w)
			}
		}
	}
}
