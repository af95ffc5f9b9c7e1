// Package testsvc is test support for the integration tests that talk to
// the real PostgreSQL, MariaDB and Redis on 127.0.0.1. It is imported only
// by tests.
//
// A service that cannot be reached skips the test on a developer's machine,
// and fails it when KEYWARD_REQUIRE_SERVICES is set: `make test` (and so
// .ci/run) sets it after starting the services, so CI can never go green by
// skipping the tests it exists to run.
package testsvc

import (
	"os"
	"testing"
)

// RequireEnv is the variable that turns an unreachable service into a
// test failure.
const RequireEnv = "KEYWARD_REQUIRE_SERVICES"

// Unavailable ends the test because service could not be reached: a
// failure when RequireEnv is set, a skip otherwise.
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s is not reachable and %s is set (make test starts the services): %v", service, RequireEnv, err)
	}
	t.Skipf("%s is not reachable (make test starts it): %v", service, err)
}
