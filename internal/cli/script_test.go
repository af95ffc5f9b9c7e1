package cli_test

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// TestScript runs testdata/script/*.txt, each against a fresh in-memory
// server: initialized and unsealed with three shares (threshold two) and KV
// version 2 at secret/, or, for scripts named uninit_*, uninitialized. See
// serverSetup for the variables scripts get ($UNSEAL_KEY_1 and
// $UNSEAL_KEY_2 are two of the shares).
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup:         serverSetup(scriptServer{node: nodetest.Options{Shares: 3, Threshold: 2}, uninit: "uninit_"}),
		Cmds:          scriptCmds(nil),
	})
}
