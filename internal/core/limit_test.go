package core_test

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/storage/inmem"
)

// passwordAuth logs in users named in the path whose password is "good",
// and counts how often it had to check one (the expensive part of a login).
type passwordAuth struct{ checks *atomic.Int64 }

func (passwordAuth) UnauthenticatedPaths() []string { return []string{"login/*"} }

func (b passwordAuth) HandleRequest(_ context.Context, req *logical.Request) (*logical.Response, error) {
	b.checks.Add(1)
	if pw, _ := req.Data["password"].(string); pw != "good" {
		return nil, logical.ErrPermissionDenied
	}
	return &logical.Response{Auth: &logical.Auth{Policies: []string{"default"}, TTL: time.Hour}}, nil
}

func newLimitedCore(t *testing.T, limits core.Limits) (*core.Core, string, *atomic.Int64, *clocktest.Clock) {
	t.Helper()
	clock := clocktest.New(time.Now())
	checks := &atomic.Int64{}
	c, root := newCoreWith(t, core.Config{Storage: inmem.New(), Now: clock.Now, Limits: limits,
		Services: []core.Service{wrappingService()},
		AuthMethods: map[string]logical.Factory{"pw": func(context.Context, *logical.BackendConfig) (logical.Backend, error) {
			return passwordAuth{checks}, nil
		}}})
	mustCall(t, c, root, logical.UpdateOperation, "sys/auth/pw", map[string]any{"type": "pw"})
	return c, root, checks, clock
}

func loginFrom(c *core.Core, addr, user, password string) error {
	_, err := c.HandleRequest(context.Background(), &logical.Request{ID: "t", Operation: logical.UpdateOperation,
		Path: "auth/pw/login/" + user, Data: map[string]any{"password": password},
		Connection: &logical.Connection{RemoteAddr: addr}})
	return err
}

func isStatus(err error, code int) bool {
	status, _, _ := logical.StatusOf(err)
	return err != nil && status == code
}

// A flood of failed logins from one address is cut off before the auth
// method spends work on it, while other clients log in normally; a flood
// against one user is cut off from every address (issue 10 item 25).
// Regression: before the fix every bad login reached the auth method.
func TestFailedLoginsAreRateLimited(t *testing.T) {
	c, _, checks, clock := newLimitedCore(t, core.Limits{LoginFailuresPerAddress: 5, LoginFailuresPerUser: 8})
	for i := range 50 {
		err := loginFrom(c, "192.0.2.1:1000", "user"+string(rune('a'+i%4)), "bad")
		if i >= 5 && !isStatus(err, http.StatusTooManyRequests) {
			t.Fatalf("bad login %d from a flooding address: %v, want 429", i, err)
		}
	}
	if n := checks.Load(); n != 5 {
		t.Errorf("the auth method checked %d passwords for the flood, want 5", n)
	}
	// Another client is unaffected, and the flooding address recovers.
	if err := loginFrom(c, "198.51.100.7:2000", "usera", "good"); err != nil {
		t.Fatalf("good login from another address: %v", err)
	}
	clock.Add(time.Minute)
	if err := loginFrom(c, "192.0.2.1:1000", "usera", "good"); err != nil {
		t.Fatalf("good login after the refill: %v", err)
	}
	// One user attacked from many addresses.
	for i := range 20 {
		addr := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String() + ":1"
		err := loginFrom(c, addr, "victim", "bad")
		if i >= 8 && !isStatus(err, http.StatusTooManyRequests) {
			t.Fatalf("bad login %d against one user: %v, want 429", i, err)
		}
	}
	if err := loginFrom(c, "198.51.100.7:2000", "other", "good"); err != nil {
		t.Fatalf("another user: %v", err)
	}
	// Successful logins spend nothing.
	for range 30 {
		if err := loginFrom(c, "198.51.100.9:1", "usera", "good"); err != nil {
			t.Fatalf("repeated good logins: %v", err)
		}
	}
}

// Limits can be turned off.
func TestLoginLimitsOff(t *testing.T) {
	c, _, _, _ := newLimitedCore(t, core.Limits{LoginFailuresPerAddress: -1, LoginFailuresPerUser: -1})
	for i := range 40 {
		if err := loginFrom(c, "192.0.2.1:1000", "u", "bad"); !errors.Is(err, logical.ErrPermissionDenied) {
			t.Fatalf("bad login %d with limits off: %v, want 403", i, err)
		}
	}
}

// The anonymous operator endpoints accept writes only from configured
// networks and at a bounded rate per address (issue 10 item 24).
func TestOperatorAccess(t *testing.T) {
	c, _, _, _ := newLimitedCore(t, core.Limits{OperatorRequestsPerAddress: 3,
		OperatorCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	op := func(addr string, opn logical.Operation, path string) error {
		_, err := c.HandleRequest(context.Background(), &logical.Request{ID: "t", Operation: opn, Path: path,
			Data: map[string]any{}, Connection: &logical.Connection{RemoteAddr: addr}})
		return err
	}
	for _, path := range []string{"sys/unseal", "sys/init", "sys/generate-root/attempt", "sys/generate-root/update",
		"sys/rekey/init", "sys/rekey/update", "sys/rekey/verify"} {
		if err := op("192.0.2.1:1", logical.UpdateOperation, path); !errors.Is(err, logical.ErrPermissionDenied) {
			t.Errorf("%s from outside the operator networks: %v, want 403", path, err)
		}
	}
	if err := op("192.0.2.1:1", logical.ReadOperation, "sys/generate-root/attempt"); err != nil {
		t.Errorf("status read from anywhere: %v", err)
	}
	// Inside: three writes, then 429 (the writes themselves may fail).
	for i := range 5 {
		err := op("10.1.2.3:1", logical.DeleteOperation, "sys/generate-root/attempt")
		if i < 3 && isStatus(err, http.StatusTooManyRequests) || i >= 3 && !isStatus(err, http.StatusTooManyRequests) {
			t.Fatalf("operator write %d: %v", i, err)
		}
	}
	if err := op("10.9.9.9:1", logical.DeleteOperation, "sys/generate-root/attempt"); err != nil {
		t.Errorf("another operator address: %v", err)
	}
}

// Unauthenticated answers from each mount's declared paths.
func TestUnauthenticatedPaths(t *testing.T) {
	c, _, _, _ := newLimitedCore(t, core.Limits{})
	for path, want := range map[string]bool{
		"auth/pw/login/alice": true, "auth/pw/users/alice": false, "auth/token/create": false,
		"sys/unseal": true, "sys/wrapping/unwrap": true, "sys/policies/acl/x": false, "secret/data/x": false, "nomount/x": false,
		"sys/rekey/init": true, "sys/rekey/update": true, "sys/rekey/verify": true, "sys/rotate/root/init": false,
		"sys/generate-root-token/attempt": false,
	} {
		if got := c.Unauthenticated(path); got != want {
			t.Errorf("Unauthenticated(%q) = %v, want %v", path, got, want)
		}
	}
}

// Spellings of one user share a budget, and so does an IPv6 /64.
// Regression (adversarial pass on issue 10): each spelling of bob, and each
// address, had a fresh budget.
func TestLoginBudgetsFoldSpellingsAndPrefixes(t *testing.T) {
	c, _, checks, _ := newLimitedCore(t, core.Limits{LoginFailuresPerAddress: 100, LoginFailuresPerUser: 4})
	for i, user := range []string{"bob", "BOB", "bOb", "ｂｏｂ", " bob", "Bob", "BOB"} {
		addr := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String() + ":1"
		_ = loginFrom(c, addr, user, "bad")
	}
	if n := checks.Load(); n != 4 {
		t.Errorf("the auth method checked %d passwords across spellings of one user, want 4", n)
	}
	c2, _, checks2, _ := newLimitedCore(t, core.Limits{LoginFailuresPerAddress: 3, LoginFailuresPerUser: 100})
	for i := range 10 {
		addr := netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, byte(i + 1)}), 1).String()
		_ = loginFrom(c2, addr, "u"+string(rune('a'+i)), "bad")
	}
	if n := checks2.Load(); n != 3 {
		t.Errorf("the auth method checked %d passwords from one IPv6 /64, want 3", n)
	}
}
