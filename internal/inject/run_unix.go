//go:build !windows

package inject

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keyward/keyward/internal/sensitive"
)

// Run starts argv[0] (looked up in keyward's PATH) with argv[1:] and the
// secrets in spec, waits for it and returns its exit code: the code it
// exited with, or 128+n if signal n killed it. Secret files are removed
// before Run returns, whatever happened. The child runs in its own process
// group; signals from opts.Signals go to that group. When ctx is done the
// group gets SIGTERM, then SIGKILL after opts.KillGrace, and Run returns the
// exit code with ctx's error. When the child exits, whatever is left in its
// process group (background jobs holding the same secrets) gets SIGTERM, and
// SIGKILL if it still holds the child's stdout or stderr 2 s later; a daemon
// meant to outlive the job must leave the group (setsid).
//
// If keyward itself dies (kill -9), the child gets SIGKILL from the kernel
// (PR_SET_PDEATHSIG, Linux), and the guard process of opts.Guard kills the
// rest of the child's process group.
//
// Run calls ProtectProcess first (callers that hold secrets before they
// call Run should call it themselves, earlier). The child inherits the core
// limit (Go cannot set an rlimit for the child alone), but not the
// non-dumpable flag, which exec resets.
//
// When the child is in its own process group it cannot read from a
// terminal; Run is meant for non-interactive jobs. Run returns -1 and an
// error if the child could not be started.
func Run(ctx context.Context, argv []string, spec Spec, opts Options) (int, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(argv) == 0 || argv[0] == "" {
		return -1, errors.New("inject: no command")
	}
	if err := spec.Validate(); err != nil {
		return -1, err
	}
	if err := ctx.Err(); err != nil {
		return -1, fmt.Errorf("inject: %w", err)
	}
	if err := ProtectProcess(); err != nil {
		return -1, err
	}
	base := opts.BaseEnv
	if base == nil {
		base = os.Environ()
	}
	set := map[string]string{}
	for _, e := range spec.Env {
		set[e.Name] = e.Value.Reveal()
	}
	if len(spec.Files) > 0 {
		dir, err := makeDir(secretsRoots(opts.SecretsRoot, base))
		if err != nil {
			return -1, err
		}
		defer func() {
			if err := os.RemoveAll(dir); err != nil {
				log.Error("remove secrets directory", "dir", dir, "err", err)
			}
		}()
		if err := writeFiles(dir, spec.Files); err != nil {
			return -1, err
		}
		set[spec.dirEnv()] = dir
		for _, f := range spec.Files {
			set[FileEnvName(f.Name)] = filepath.Join(dir, f.Name)
		}
	}

	var g *guard
	if len(opts.Guard) > 0 {
		var err error
		if g, err = startGuard(opts.Guard); err != nil {
			// The child still dies with keyward; its descendants might not.
			log.Warn("no guard process: if keyward is killed, the command's background processes survive it", "err", err)
		} else {
			defer g.release(log)
		}
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	if cmd.Err != nil {
		return -1, fmt.Errorf("inject: start %s: %w", argv[0], cmd.Err)
	}
	cmd.Env = childEnv(base, set)
	cmd.Stdin = opts.Stdin
	// Its own process group, so that signals reach the child's descendants
	// too, and SIGKILL when keyward dies (Linux).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(cmd.SysProcAttr)
	cmd.WaitDelay = waitDelay // for a Stdin reader that never returns
	var outs outputs
	defer outs.abort()
	var err error
	if cmd.Stdout, err = outs.add(opts.Stdout); err != nil {
		return -1, err
	}
	if cmd.Stderr, err = outs.add(opts.Stderr); err != nil {
		return -1, err
	}
	// The kernel sends the parent-death signal when the thread that started
	// the child ends, not the process, and Go ends a thread when a goroutine
	// locked to it returns without unlocking. Locked here until the child
	// has been waited for, the thread belongs to this goroutine alone and
	// lives at least as long as the child must.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var gt *gate
	if g != nil && len(opts.Gate) > 0 {
		// The guard must know the child's group before the command runs:
		// a command that has started a background job by the time keyward
		// is killed would otherwise leave it to nobody.
		gc, gg, err := gated(cmd, opts.Gate)
		if err != nil {
			log.Warn("no start gate: a keyward killed as the command starts may leave its background processes", "err", err)
		} else if err := gc.Start(); err != nil {
			gg.close()
			log.Warn("no start gate: a keyward killed as the command starts may leave its background processes", "err", err)
		} else {
			cmd, gt = gc, gg
			defer gt.close()
			gt.started()
		}
	}
	if gt == nil {
		if err := cmd.Start(); err != nil {
			return -1, fmt.Errorf("inject: start %s: %w", argv[0], err)
		}
	}
	outs.started()
	pgid := cmd.Process.Pid
	if g != nil {
		g.watch(pgid, log)
	}
	if gt != nil {
		if err := gt.open(); err != nil {
			cmd.Wait()
			outs.wait(0) // the gate, gone, held the only write ends
			return -1, fmt.Errorf("inject: start %s: %w", argv[0], err)
		}
	}
	log.Debug("child started", "pid", pgid, "env", len(spec.Env), "files", len(spec.Files))

	done := make(chan struct{})
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		forward(ctx, pgid, opts, log, done)
	}()
	werr := cmd.Wait()
	close(done)
	<-forwarded
	code := exitCode(cmd.ProcessState)
	log.Debug("child exited", "pid", pgid, "code", code)

	// The job is over: descendants left in the child's group hold its
	// secrets, so they get SIGTERM, and SIGKILL if they still keep its
	// output open after waitDelay.
	signalGroup(pgid, syscall.SIGTERM, log)
	if !outs.wait(waitDelay) {
		log.Warn("child's descendants kept its output open; killing them", "pgid", pgid)
		signalGroup(pgid, syscall.SIGKILL, log)
		outs.abort()
		outs.wait(0)
	}

	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return code, fmt.Errorf("inject: %s: %w", argv[0], ctx.Err())
	case outs.err != nil:
		return code, fmt.Errorf("inject: copy output of %s: %w", argv[0], outs.err)
	case werr == nil, errors.As(werr, &exitErr):
		return code, nil
	case errors.Is(werr, exec.ErrWaitDelay):
		log.Warn("stopped reading the child's stdin", "pid", pgid)
		return code, nil
	default:
		return code, fmt.Errorf("inject: %s: %w", argv[0], werr)
	}
}

// outputs copies the child's stdout and stderr through pipes it owns, so
// that Wait returns when the child exits rather than when the last
// descendant closes the pipes.
type outputs struct {
	mu      sync.Mutex
	err     error
	wg      sync.WaitGroup
	targets []io.Writer
	readers []*os.File
	writers []*os.File
}

func (o *outputs) add(dst io.Writer) (io.Writer, error) {
	if dst == nil {
		return nil, nil // exec connects the null device
	}
	if f, ok := dst.(*os.File); ok {
		return f, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("inject: pipe: %w", err)
	}
	o.targets = append(o.targets, dst)
	o.readers = append(o.readers, r)
	o.writers = append(o.writers, w)
	return w, nil
}

// started closes keyward's copies of the write ends and starts copying.
func (o *outputs) started() {
	for _, w := range o.writers {
		w.Close()
	}
	o.writers = nil
	for i, r := range o.readers {
		dst := o.targets[i]
		o.wg.Go(func() {
			if _, err := io.Copy(dst, r); err != nil && !errors.Is(err, os.ErrClosed) {
				o.mu.Lock()
				o.err = cmp.Or(o.err, err)
				o.mu.Unlock()
			}
		})
	}
}

// wait waits up to d for the copies to reach EOF and reports whether they did.
func (o *outputs) wait(d time.Duration) bool {
	finished := make(chan struct{})
	go func() {
		o.wg.Wait()
		close(finished)
	}()
	if d == 0 {
		<-finished
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-finished:
		return true
	case <-t.C:
		return false
	}
}

// abort closes every pipe end keyward holds, ending the copies.
func (o *outputs) abort() {
	for _, f := range append(o.readers, o.writers...) {
		f.Close()
	}
}

// forward relays signals to the child's process group until done, and stops
// the group when ctx is done.
func forward(ctx context.Context, pgid int, opts Options, log *slog.Logger, done <-chan struct{}) {
	grace := opts.KillGrace
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	ctxDone := ctx.Done()
	var kill <-chan time.Time
	for {
		select {
		case <-done:
			return
		case s := <-opts.Signals:
			sig, ok := s.(syscall.Signal)
			if !ok || (sig != syscall.SIGINT && sig != syscall.SIGTERM && sig != syscall.SIGHUP && sig != syscall.SIGQUIT) {
				log.Debug("signal not forwarded", "signal", s)
				continue
			}
			log.Debug("forwarding signal", "signal", sig, "pgid", pgid)
			signalGroup(pgid, sig, log)
		case <-ctxDone:
			ctxDone = nil
			log.Debug("context done; stopping child", "pgid", pgid)
			signalGroup(pgid, syscall.SIGTERM, log)
			t := time.NewTimer(grace)
			defer t.Stop()
			kill = t.C
		case <-kill:
			kill = nil
			signalGroup(pgid, syscall.SIGKILL, log)
		}
	}
}

func signalGroup(pgid int, sig syscall.Signal, log *slog.Logger) {
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		log.Warn("signal child", "pgid", pgid, "signal", sig, "err", err)
	}
}

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// childEnv returns base without the variables in set, then set.
func childEnv(base []string, set map[string]string) []string {
	env := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; !ok {
			env = append(env, kv)
		}
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

func secretsRoots(root string, env []string) []string {
	if root != "" {
		return []string{root}
	}
	roots := []string{"/dev/shm"}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "XDG_RUNTIME_DIR="); ok && v != "" {
			roots = append(roots, v)
		}
	}
	return append(roots, os.TempDir())
}

// makeDir creates a fresh 0700 directory in the first root where it can.
func makeDir(roots []string) (string, error) {
	var errs []error
	for _, r := range roots {
		dir := filepath.Join(r, fmt.Sprintf("%s%d-%s", dirPrefix, os.Getpid(), randomHex()))
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			if err = os.Chmod(dir, 0o700); err == nil { // in case of an odd umask
				return dir, nil
			}
			os.Remove(dir)
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("inject: create secrets directory: %w", errors.Join(errs...))
}

func randomHex() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// writeFiles writes each file inside dir. os.Root keeps every name inside
// dir, and O_EXCL|O_NOFOLLOW refuses anything already there.
func writeFiles(dir string, files []File) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("inject: open secrets directory: %w", err)
	}
	defer root.Close()
	for _, f := range files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o600
		}
		if err := writeFile(root, f.Name, f.Value, mode); err != nil {
			return fmt.Errorf("inject: write secret file %s: %w", f.Name, err)
		}
	}
	return nil
}

func writeFile(root *os.Root, name string, v sensitive.String, mode os.FileMode) error {
	fd, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = io.WriteString(fd, v.Reveal())
	if err == nil {
		err = fd.Chmod(mode)
	}
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	return err
}
