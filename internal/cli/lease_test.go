package cli_test

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestLeaseScripts runs testdata/lease/*.txt against a fresh server each,
// with the real PostgreSQL on 127.0.0.1 for dynamic credentials (skipped
// when it is unreachable). $PREFIX starts every user name a script creates;
// leftovers are dropped at the end (see serverSetup).
func TestLeaseScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/lease",
		UpdateScripts: *update,
		Setup:         serverSetup(scriptServer{postgres: func(string) bool { return true }}),
		Cmds:          scriptCmds(nil),
	})
}
