package cli_test

import (
	"errors"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// TestAuditScripts runs testdata/audit/*.txt against a fresh in-memory
// server each.
func TestAuditScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/audit",
		UpdateScripts: *update,
		Setup: func(e *testscript.Env) error {
			tb, ok := e.T().(testing.TB)
			if !ok {
				return errors.New("testscript.T is not a testing.TB")
			}
			n := nodetest.Start(tb)
			e.Defer(func() { n.Close() })
			e.Setenv("KEYWARD_ADDR", n.URL)
			e.Setenv("KEYWARD_TOKEN", n.RootToken.Reveal())
			return nil
		},
	})
}
