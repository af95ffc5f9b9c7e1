// Package inject runs a child process with secrets: as environment variables
// set only in the child, and as files in a private directory that is removed
// when the child exits. It forwards job-control signals to the child's
// process group, stops that group when keyward dies (PR_SET_PDEATHSIG and
// a guard process), and returns the child's exit code.
//
// It must never put a secret in argv, in keyward's own environment, in an
// error or log message, or in a file outside its private directory (mode
// 0700, on a RAM-backed file system when one is writable), and the process
// that holds the secrets must not be readable by the child it starts
// (ProtectProcess). It imports only the standard library, golang.org/x/sys
// and internal/sensitive.
package inject

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/sensitive"
)

// DefaultDirEnv names the variable that holds the secrets directory.
const DefaultDirEnv = "KEYWARD_SECRETS_DIR"

// DefaultKillGrace is the default Options.KillGrace.
const DefaultKillGrace = 5 * time.Second

// dirPrefix starts the name of every secrets directory:
// keyward-run-<pid of keyward>-<random>.
const dirPrefix = "keyward-run-"

// waitDelay bounds how long Run waits, after the child exits, for
// descendants that still hold its stdout or stderr open.
const waitDelay = 2 * time.Second

// EnvVar is a variable set in the child's environment only.
type EnvVar struct {
	Name  string
	Value sensitive.String
}

// File is a secret written to Name inside the secrets directory. Name is a
// single path element. Mode defaults to 0600.
type File struct {
	Name  string
	Value sensitive.String
	Mode  os.FileMode
}

// Spec says which secrets the child gets and how.
type Spec struct {
	Env   []EnvVar
	Files []File
	// DirEnv names the variable holding the secrets directory's path
	// (default DefaultDirEnv). Each file's path is also in the variable
	// FileEnvName(file.Name).
	DirEnv string
}

// Options wires the child to keyward. The zero value runs the child with no
// stdin, discards its output and forwards no signals.
type Options struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer // typically *mask.Writer
	// BaseEnv is passed to the child beneath the secrets (default
	// os.Environ()). Callers should drop their own credentials from it.
	BaseEnv []string
	// SecretsRoot is where the secrets directory is made (default: the first
	// of /dev/shm, $XDG_RUNTIME_DIR from BaseEnv and os.TempDir() that works).
	SecretsRoot string
	// Signals carries signals to forward to the child's process group. The
	// caller subscribes it with signal.Notify; SIGINT, SIGTERM, SIGHUP and
	// SIGQUIT are forwarded, others ignored.
	Signals <-chan os.Signal
	// KillGrace is how long the child has to exit after the context is done
	// and it got SIGTERM, before SIGKILL (default DefaultKillGrace).
	KillGrace time.Duration
	// Guard is the command line of a guard process, a program that calls
	// Guard (keyward starts itself). Run starts it before the child and
	// tells it the child's process group; if keyward dies without ending
	// Run (kill -9), the guard kills that group. Empty: no guard, and after
	// a kill -9 only the child itself dies (on Linux), not its descendants.
	Guard []string
	// Gate is the command line of a start gate, a program that calls
	// ExecGate (keyward starts itself). With a guard, Run starts the gate
	// in the command's place and lets it exec the command only once the
	// guard knows its process group, so that no descendant of the command
	// can exist that a killed keyward's guard would not kill. Empty, or no
	// guard: the command starts directly, and a kill -9 in the moment
	// between its start and the guard hearing of it spares its descendants.
	Gate   []string
	Logger *slog.Logger
}

// FileEnvName returns the variable that holds the path of the secret file
// named name: KEYWARD_FILE_ and the name upper-cased, with every byte that
// is not a letter or digit replaced by '_'.
func FileEnvName(name string) string {
	b := []byte("KEYWARD_FILE_" + name)
	for i := len("KEYWARD_FILE_"); i < len(b); i++ {
		switch c := b[i]; {
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}

func (s Spec) dirEnv() string {
	if s.DirEnv == "" {
		return DefaultDirEnv
	}
	return s.DirEnv
}

// Validate reports every problem with the names and modes in s at once. It
// never looks at values except to reject NUL bytes, and never quotes them.
func (s Spec) Validate() error {
	var errs []error
	vars := map[string]string{} // variable -> what sets it
	claim := func(v, by string) {
		if prev, ok := vars[v]; ok {
			errs = append(errs, fmt.Errorf("%s and %s both set variable %s", prev, by, v))
		}
		vars[v] = by
	}
	if !validEnvName(s.dirEnv()) {
		errs = append(errs, fmt.Errorf("invalid directory variable name %q", s.DirEnv))
	}
	for i, e := range s.Env {
		switch {
		case !validEnvName(e.Name):
			errs = append(errs, fmt.Errorf("env %d: invalid variable name %q", i, e.Name))
		case strings.ContainsRune(e.Value.Reveal(), 0):
			errs = append(errs, fmt.Errorf("env %s: value contains a NUL byte", e.Name))
		default:
			claim(e.Name, "env "+e.Name)
		}
	}
	if len(s.Files) > 0 {
		claim(s.dirEnv(), "the secrets directory")
	}
	for i, f := range s.Files {
		if !validFileName(f.Name) {
			errs = append(errs, fmt.Errorf("file %d: invalid name %q: want a single relative path element", i, f.Name))
			continue
		}
		if f.Mode&^os.ModePerm != 0 || (f.Mode != 0 && f.Mode&0o400 == 0) {
			errs = append(errs, fmt.Errorf("file %s: invalid mode %v: want permission bits readable by the owner", f.Name, f.Mode))
		}
		claim(FileEnvName(f.Name), "file "+f.Name)
	}
	if len(errs) > 0 {
		return fmt.Errorf("inject: invalid spec: %w", errors.Join(errs...))
	}
	return nil
}

func validEnvName(n string) bool {
	return n != "" && !strings.ContainsAny(n, "=\x00")
}

func validFileName(n string) bool {
	return n != "" && n != "." && n != ".." && len(n) <= 255 &&
		!strings.ContainsAny(n, "/\\\x00") && filepath.IsLocal(n)
}
