//go:build !windows

package inject

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// guardDone is what Run writes to its guard when it ends normally.
const guardDone = "done\n"

// Guard is the main of the guard process (Options.Guard). It reads the
// child's process group id from in, one decimal line, then waits for in to
// end. If Run ended normally it has written "done" first, and Guard
// returns. If in ends without it, keyward died without cleaning up
// (kill -9, OOM killer): the descendants of the child still hold its
// secrets, so Guard sends SIGKILL to the child's process group.
//
// Guard ignores SIGINT, SIGTERM, SIGHUP and SIGQUIT: only keyward's end
// decides. It holds no secret and needs no environment.
func Guard(in io.Reader) error {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	br := bufio.NewReader(in)
	line, err := br.ReadString('\n')
	if err != nil || line == guardDone {
		return nil // keyward ended before the child started: nothing to stop
	}
	pgid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pgid <= 1 {
		return fmt.Errorf("inject: guard: invalid process group %q", strings.TrimSpace(line))
	}
	rest, _ := io.ReadAll(br) // until keyward closes its end or dies
	if string(rest) == guardDone {
		return nil
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("inject: guard: kill process group %d: %w", pgid, err)
	}
	return nil
}

// guard is a running guard process, seen from Run.
type guard struct {
	cmd *exec.Cmd
	w   *os.File // the guard's stdin; its end tells the guard keyward ended
}

// startGuard starts argv as the guard. It runs in a process group of its
// own (so a signal to keyward's group, such as a CI runner stopping the
// job, does not stop it), in /, with an empty environment and no output.
func startGuard(argv []string) (*guard, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("inject: guard: pipe: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = r
	cmd.Env = []string{}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("inject: start guard: %w", err)
	}
	return &guard{cmd: cmd, w: w}, nil
}

// watch tells the guard which process group to kill if keyward dies.
func (g *guard) watch(pgid int, log *slog.Logger) {
	if _, err := fmt.Fprintf(g.w, "%d\n", pgid); err != nil {
		log.Warn("guard process gone; the child's descendants would outlive a killed keyward", "err", err)
	}
}

// release tells the guard that Run ended normally and waits for it.
func (g *guard) release(log *slog.Logger) {
	io.WriteString(g.w, guardDone) // a guard already gone needs no goodbye
	g.w.Close()
	if err := g.cmd.Wait(); err != nil {
		log.Warn("guard process", "err", err)
	}
}
