package routetest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/routetest"
)

// backend serves "item/NAME" (read, update) over one stored item "a",
// and "login" (update) without a token.
type backend struct{}

func (backend) HandleRequest(_ context.Context, req *logical.Request) (*logical.Response, error) {
	switch {
	case req.Path == "login" && req.Operation == logical.UpdateOperation,
		len(req.Path) > 5 && req.Path[:5] == "item/" && (req.Operation == logical.ReadOperation || req.Operation == logical.UpdateOperation):
		return &logical.Response{}, nil
	case req.Path == "login" || len(req.Path) > 5 && req.Path[:5] == "item/":
		return nil, logical.ErrUnsupportedOperation
	}
	return nil, logical.ErrUnsupportedPath
}

func (backend) ExistenceCheck(_ context.Context, req *logical.Request) (bool, bool, error) {
	if len(req.Path) > 5 && req.Path[:5] == "item/" {
		return true, req.Path == "item/a", nil
	}
	return false, false, nil
}

func (backend) Help(_ context.Context, req *logical.Request) (*logical.Response, error) {
	return &logical.Response{Raw: []byte("help for " + req.MountPoint + req.Path)}, nil
}

func (backend) UnauthenticatedPaths() []string { return []string{"login"} }

// recorder is a testing.TB that keeps the failures it is told of.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }

func check(t *testing.T, b logical.Backend, right bool) []string {
	r := &recorder{TB: t}
	if right {
		routetest.Unauthenticated(r, b, "login")
		routetest.ExistenceChecks(r, b, nil, routetest.Existence{Exists: []string{"item/a"}, Absent: []string{"item/b"}, NoCheck: []string{"login"}})
		routetest.Refusals(r, b, nil, routetest.Refusal{WrongOperation: []string{"read login", "delete item/a"}, UnknownPath: []string{"read other"}})
		routetest.Help(r, b, "auth/x/", map[string][]string{"item/a": {"auth/x/item/a"}})
	} else {
		routetest.Unauthenticated(r, b, "login", "login/*")
		routetest.ExistenceChecks(r, b, nil, routetest.Existence{Exists: []string{"item/b"}, Absent: []string{"item/a"}, NoCheck: []string{"item/c"}})
		routetest.Refusals(r, b, nil, routetest.Refusal{WrongOperation: []string{"update login", "read other"}, UnknownPath: []string{"read item/a"}})
		routetest.Help(r, b, "auth/x/", map[string][]string{"item/a": {"not in the help"}})
	}
	return r.failures
}

// The checks pass a backend that meets its expectations and report each
// expectation it misses, one failure apiece.
func TestChecksReportEachMismatch(t *testing.T) {
	if got := check(t, backend{}, true); len(got) != 0 {
		t.Errorf("right expectations reported %q", got)
	}
	if got := check(t, backend{}, false); len(got) != 8 {
		t.Errorf("eight wrong expectations reported %d failures: %q", len(got), got)
	}
	r := &recorder{TB: t}
	routetest.Help(r, struct{ logical.Backend }{backend{}}, "x/", map[string][]string{"": {"x"}})
	if len(r.failures) != 1 {
		t.Errorf("a backend without help reported %q", r.failures)
	}
}
