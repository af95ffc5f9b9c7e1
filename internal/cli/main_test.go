package cli_test

import (
	"context"
	"flag"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward/internal/cli"
)

var update = flag.Bool("update", false, "rewrite testscript expectations")

// TestMain lets testscript run the keyward command in-process: scripts call
// `keyward ...` and the test binary re-executes itself as the CLI.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"keyward": keywardMain})
}

func keywardMain() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
