package cli

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// oNoFollow is 0 on Windows, which has no O_NOFOLLOW. Every open that
// uses it also has O_CREATE|O_EXCL (CREATE_NEW), which fails when
// anything, a link included, already has the name, so no link is
// followed.
const oNoFollow = 0

// signalPID refuses on Windows: there are no signals to send to another
// process, so a cert agent --signal hook cannot run (use --exec).
func signalPID(int, syscall.Signal) error {
	return errors.New("sending a signal to a process is not supported on Windows; use a command hook instead")
}

// signalNames has only the names Windows defines; signalPID refuses them
// all, but parseSignal still reports a clear error for the others.
func signalNames() map[string]syscall.Signal {
	return map[string]syscall.Signal{"HUP": syscall.SIGHUP, "INT": syscall.SIGINT,
		"TERM": syscall.SIGTERM, "QUIT": syscall.SIGQUIT}
}

// processAlive reports whether process pid exists: on Windows
// os.FindProcess opens a handle to it and fails if there is none. Any
// other doubt counts as alive, so nothing of a running process is removed.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}

// ownedByMe reports false on Windows: there is no owner uid to compare,
// so a stale edit directory is left for the user to remove rather than
// risk removing another user's.
func ownedByMe(fs.FileInfo) bool { return false }
