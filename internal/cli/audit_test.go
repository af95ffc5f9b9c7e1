package cli_test

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestAuditScripts runs testdata/audit/*.txt against a fresh in-memory
// server each (see serverSetup).
func TestAuditScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/audit",
		UpdateScripts: *update,
		Setup:         serverSetup(scriptServer{}),
		Cmds:          scriptCmds(nil),
	})
}
