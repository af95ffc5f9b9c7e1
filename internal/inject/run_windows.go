package inject

import (
	"context"
	"errors"
	"io"
)

// errNoWindows is what every entry point that starts a child with secrets
// returns on Windows. Run relies on process groups, signals, a guard that
// kills the group when keyward dies, and secret files opened without
// following links; until a job object provides the same, Run refuses to
// start the child at all rather than start it with weaker protection.
var errNoWindows = errors.New("inject: running a command with secrets (keyward run) is not supported on Windows; see docs/install.md, \"Windows: what differs\"")

// Run refuses on Windows: see errNoWindows. It starts nothing and writes
// no secret anywhere.
func Run(context.Context, []string, Spec, Options) (int, error) { return -1, errNoWindows }

// Guard refuses on Windows: no child is ever started for it to watch.
func Guard(io.Reader) error { return errNoWindows }

// ExecGate refuses on Windows: there is no exec(2) to hand over to.
func ExecGate([]string) error { return errNoWindows }

// CleanStale has nothing to clean on Windows: Run never creates a secrets
// directory there.
func CleanStale(string) error { return nil }

// Supported reports errNoWindows: callers check it before they fetch a
// secret for Run.
func Supported() error { return errNoWindows }
