//go:build !windows

package inject

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// gateGo is what Run writes to its gate once the guard knows the gate's
// process group: the gate may exec the command.
const gateGo = "go\n"

// The gate's inherited descriptors (Options.Gate): it reads gateGo from
// gateGoFD and reports a failed exec on gateStatusFD.
const (
	gateGoFD     = 3
	gateStatusFD = 4
)

// ExecGate is the main of the gate process (Options.Gate). args are the
// command's path and its argv. Run starts the gate in the command's place
// (its own process group, the command's environment and output), tells
// the guard the gate's process group and only then lets it go: ExecGate
// waits for that word on descriptor 3 and execs the command in its own
// process, which keeps the gate's pid, group and parent-death signal. If
// the word never comes, keyward died before the guard heard of the group,
// and ExecGate returns without running anything. If the exec fails, the
// error number goes to keyward on descriptor 4 (closed by a successful
// exec), which reports it as Run's start error.
func ExecGate(args []string) error {
	if len(args) < 2 {
		return errors.New("inject: gate: want PATH ARGV0 [ARG...]")
	}
	goR := os.NewFile(gateGoFD, "gate")
	status := os.NewFile(gateStatusFD, "gate-status")
	if goR == nil || status == nil {
		return errors.New("inject: gate: descriptors 3 and 4 are not open")
	}
	syscall.CloseOnExec(gateStatusFD)
	var word [len(gateGo)]byte
	_, err := io.ReadFull(goR, word[:])
	goR.Close()
	if err != nil || string(word[:]) != gateGo {
		return nil // keyward ended before letting the command start
	}
	err = syscall.Exec(args[0], args[1:], os.Environ())
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		errno = syscall.EINVAL
	}
	if _, werr := fmt.Fprintf(status, "%d", int(errno)); werr != nil {
		return fmt.Errorf("inject: gate: exec %s: %w", args[0], err)
	}
	return nil
}

// gate is the pipes Run holds to a gate process.
type gate struct {
	path    string   // the command's
	goW     *os.File // Run writes gateGo
	statusR *os.File // the gate's exec error, or EOF when it exec'd
	theirs  []*os.File
}

// gated returns cmd rewritten to start through the gate argv, and the gate's
// pipes; on error cmd is returned unchanged.
func gated(cmd *exec.Cmd, argv []string) (*exec.Cmd, *gate, error) {
	goR, goW, err := os.Pipe()
	if err != nil {
		return cmd, nil, fmt.Errorf("inject: gate: pipe: %w", err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		goR.Close()
		goW.Close()
		return cmd, nil, fmt.Errorf("inject: gate: pipe: %w", err)
	}
	// "--" keeps the command's arguments from being read as the gate's.
	args := append(append(append([]string{}, argv[1:]...), "--", cmd.Path), cmd.Args...)
	g := exec.Command(argv[0], args...)
	if g.Err != nil {
		for _, f := range []*os.File{goR, goW, statusR, statusW} {
			f.Close()
		}
		return cmd, nil, fmt.Errorf("inject: gate: %w", g.Err)
	}
	g.Env, g.Dir, g.Stdin, g.Stdout, g.Stderr = cmd.Env, cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr
	g.SysProcAttr, g.WaitDelay = cmd.SysProcAttr, cmd.WaitDelay
	g.ExtraFiles = []*os.File{goR, statusW} // descriptors 3 and 4
	return g, &gate{path: cmd.Path, goW: goW, statusR: statusR, theirs: []*os.File{goR, statusW}}, nil
}

// started closes Run's copies of the gate's ends.
func (g *gate) started() {
	for _, f := range g.theirs {
		f.Close()
	}
	g.theirs = nil
}

// open lets the gate exec the command and returns the exec's error, if it
// failed: it waits until the gate has exec'd or given up.
func (g *gate) open() error {
	io.WriteString(g.goW, gateGo) // a gate already gone reports by its exit
	g.goW.Close()
	b, err := io.ReadAll(g.statusR)
	g.statusR.Close()
	if err != nil || len(b) == 0 {
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return fmt.Errorf("inject: gate: invalid status %q", b)
	}
	return &os.PathError{Op: "exec", Path: g.path, Err: syscall.Errno(n)}
}

// close closes every pipe end Run still holds.
func (g *gate) close() {
	for _, f := range append(g.theirs, g.goW, g.statusR) {
		f.Close()
	}
}
