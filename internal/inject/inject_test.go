//go:build !windows

package inject_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/keyward/keyward/internal/inject"
	"github.com/keyward/keyward/internal/sensitive"
)

// lineWriter collects output and announces each complete line on a channel,
// so tests can wait for a child's handshake instead of sleeping.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	part  []byte
	lines chan string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 100)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case w.lines <- string(w.part[:i]):
		default:
		}
		w.part = w.part[i+1:]
	}
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// child is a Run in progress.
type child struct {
	out  *lineWriter
	done chan struct{} // closed when Run returns
	code int
	err  error
}

// start runs script with sh in the background.
func start(t *testing.T, ctx context.Context, script string, spec inject.Spec, opts inject.Options) *child {
	t.Helper()
	c := &child{out: newLineWriter(), done: make(chan struct{})}
	opts.Stdout = c.out
	if opts.Stderr == nil {
		opts.Stderr = c.out
	}
	if opts.SecretsRoot == "" {
		opts.SecretsRoot = t.TempDir()
	}
	go func() {
		defer close(c.done)
		c.code, c.err = inject.Run(ctx, []string{"sh", "-c", script}, spec, opts)
	}()
	return c
}

// line returns the next line the child prints, failing if Run returns first.
func (c *child) line(t *testing.T) string {
	t.Helper()
	select {
	case l := <-c.out.lines:
		return l
	case <-c.done:
		select {
		case l := <-c.out.lines:
			return l
		default:
		}
		t.Fatalf("child exited (%d, %v) before printing a line; output %q", c.code, c.err, c.out.String())
		return ""
	}
}

// wait waits for Run to return.
func (c *child) wait() (int, error) {
	<-c.done
	return c.code, c.err
}

// runSh runs script to completion.
func runSh(t *testing.T, script string, spec inject.Spec, opts inject.Options) (int, string, error) {
	t.Helper()
	c := start(t, t.Context(), script, spec, opts)
	code, err := c.wait()
	return code, c.out.String(), err
}

func secret(t *testing.T) string {
	t.Helper()
	return "canary-" + strconv.FormatInt(int64(os.Getpid()), 36) + "-" + t.Name()
}

func TestEnvOnlyInChild(t *testing.T) {
	v := secret(t)
	spec := inject.Spec{Env: []inject.EnvVar{{Name: "KW_TEST_SECRET", Value: sensitive.NewString(v)}}}
	opts := inject.Options{BaseEnv: []string{"PATH=" + os.Getenv("PATH"), "KEEP=kept", "KW_TEST_SECRET=old"}}
	code, out, err := runSh(t, `printf '%s|%s|' "$KW_TEST_SECRET" "$KEEP"; tr '\0' ' ' < /proc/$$/cmdline`, spec, opts)
	if err != nil || code != 0 {
		t.Fatalf("Run() = %d, %v; output %q", code, err, out)
	}
	got, cmdline, _ := strings.Cut(out, "|kept|")
	if got != v {
		t.Fatalf("child saw KW_TEST_SECRET=%q, want the secret; output %q", got, out)
	}
	if strings.Contains(cmdline, v) {
		t.Fatalf("secret in the child's argv: %q", cmdline)
	}
	if _, ok := os.LookupEnv("KW_TEST_SECRET"); ok {
		t.Fatal("secret leaked into keyward's environment")
	}
}

func TestFiles(t *testing.T) {
	root := t.TempDir()
	spec := inject.Spec{Files: []inject.File{
		{Name: "db-pass", Value: sensitive.NewString("file-secret-1\n")},
		{Name: "tls.key", Value: sensitive.NewString("file-secret-2"), Mode: 0o400},
	}}
	script := `d="$KEYWARD_SECRETS_DIR"; echo "$d"
stat -c '%a' "$d" "$KEYWARD_FILE_DB_PASS" "$KEYWARD_FILE_TLS_KEY"
cat "$d/db-pass" "$KEYWARD_FILE_TLS_KEY"; echo; ls -a "$d" | tr '\n' ' '`
	code, out, err := runSh(t, script, spec, inject.Options{SecretsRoot: root})
	if err != nil || code != 0 {
		t.Fatalf("Run() = %d, %v; output %q", code, err, out)
	}
	lines := strings.Split(out, "\n")
	if len(lines) != 7 {
		t.Fatalf("output %q: want 7 lines", out)
	}
	dir := lines[0]
	if filepath.Dir(dir) != root || !strings.HasPrefix(filepath.Base(dir), fmt.Sprintf("keyward-run-%d-", os.Getpid())) {
		t.Fatalf("secrets dir %q, want keyward-run-<pid>-* in %s", dir, root)
	}
	if got, want := strings.Join(lines[1:4], " "), "700 600 400"; got != want {
		t.Fatalf("modes of dir, db-pass, tls.key = %q, want %q", got, want)
	}
	if lines[4] != "file-secret-1" || lines[5] != "file-secret-2" {
		t.Fatalf("file contents %q, %q", lines[4], lines[5])
	}
	if lines[6] != ". .. db-pass tls.key " {
		t.Fatalf("dir listing %q", lines[6])
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("secrets dir still there after Run: %v", err)
	}
}

func TestDefaultSecretsRoot(t *testing.T) {
	spec := inject.Spec{Files: []inject.File{{Name: "f", Value: sensitive.NewString("x")}}, DirEnv: "SECRETS"}
	code, out, err := runSh(t, `echo "$SECRETS"`, spec, inject.Options{})
	dir := strings.TrimSpace(out)
	if err != nil || code != 0 || dir == "" {
		t.Fatalf("Run() = %d, %v; output %q", code, err, out)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("secrets dir %s still there after Run: %v", dir, err)
	}
}

func TestDefaultSecretsRootIsRAM(t *testing.T) {
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		t.Skip("no /dev/shm")
	}
	spec := inject.Spec{Files: []inject.File{{Name: "f", Value: sensitive.NewString("x")}}}
	code, out, err := runShDefaultRoot(t, `dirname "$KEYWARD_SECRETS_DIR"`, spec)
	if err != nil || code != 0 || strings.TrimSpace(out) != "/dev/shm" {
		t.Fatalf("Run() = %d, %v; secrets dir parent %q, want /dev/shm", code, err, out)
	}
}

func runShDefaultRoot(t *testing.T, script string, spec inject.Spec) (int, string, error) {
	var out bytes.Buffer
	code, err := inject.Run(t.Context(), []string{"sh", "-c", script}, spec, inject.Options{Stdout: &out})
	return code, out.String(), err
}

func TestExitCode(t *testing.T) {
	for _, want := range []int{0, 1, 3, 125} {
		code, out, err := runSh(t, "exit "+strconv.Itoa(want), inject.Spec{}, inject.Options{})
		if err != nil || code != want {
			t.Fatalf("exit %d: Run() = %d, %v; output %q", want, code, err, out)
		}
	}
}

func TestStdin(t *testing.T) {
	code, out, err := runSh(t, "cat", inject.Spec{}, inject.Options{Stdin: strings.NewReader("piped input")})
	if err != nil || code != 0 || out != "piped input" {
		t.Fatalf("Run() = %d, %v; output %q", code, err, out)
	}
}

func TestCoreDumpsDisabled(t *testing.T) {
	code, out, err := runSh(t, "ulimit -c", inject.Spec{}, inject.Options{})
	if err != nil || code != 0 || strings.TrimSpace(out) != "0" {
		t.Fatalf("Run() = %d, %v; child's core limit %q, want 0", code, err, out)
	}
}

var fileSpec = inject.Spec{Files: []inject.File{{Name: "token", Value: sensitive.NewString("file-secret")}}}

func TestSignalForwarded(t *testing.T) {
	// A test run under nohup (or as a background job) inherits these
	// signals ignored, and a shell cannot trap a signal ignored on entry,
	// so the children would never see them. Taking them in this process
	// while the test runs gives the children the default disposition they
	// have under a terminal (a handled signal is reset to it at exec).
	held := make(chan os.Signal, 1)
	signal.Notify(held, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	t.Cleanup(func() { signal.Stop(held) })
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			sigs := make(chan os.Signal, 1)
			var name string
			switch sig {
			case syscall.SIGTERM:
				name = "TERM"
			case syscall.SIGINT:
				name = "INT"
			case syscall.SIGHUP:
				name = "HUP"
			}
			script := fmt.Sprintf(`trap 'echo got-%[1]s; exit 7' %[1]s
echo "$KEYWARD_SECRETS_DIR"; sleep 1000 & echo ready; wait`, name)
			c := start(t, t.Context(), script, fileSpec, inject.Options{Signals: sigs})
			dir := c.line(t)
			if l := c.line(t); l != "ready" {
				t.Fatalf("handshake %q, want ready", l)
			}
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("secrets dir missing while child runs: %v", err)
			}
			sigs <- sig
			if code, err := c.wait(); err != nil || code != 7 {
				t.Fatalf("Run() = %d, %v, want 7; output %q", code, err, c.out.String())
			}
			if !strings.Contains(c.out.String(), "got-"+name) {
				t.Fatalf("child did not see %v; output %q", sig, c.out.String())
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("secrets dir still there: %v", err)
			}
		})
	}
}

func TestUnforwardedSignalIgnored(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	in, stdin := io.Pipe()
	c := start(t, t.Context(), `echo ready; read line; echo "read $line"`, inject.Spec{}, inject.Options{Signals: sigs, Stdin: in})
	if l := c.line(t); l != "ready" {
		t.Fatalf("handshake %q", l)
	}
	sigs <- syscall.SIGUSR1 // would kill sh if forwarded
	sigs <- syscall.SIGUSR1 // the first has been taken once this send completes
	fmt.Fprintln(stdin, "done")
	stdin.Close()
	if code, err := c.wait(); err != nil || code != 0 || !strings.Contains(c.out.String(), "read done") {
		t.Fatalf("Run() = %d, %v; output %q", code, err, c.out.String())
	}
}

func TestKilledExternally(t *testing.T) {
	c := start(t, t.Context(), `echo "$KEYWARD_SECRETS_DIR"; echo $$; exec sleep 1000`, fileSpec, inject.Options{})
	dir := c.line(t)
	pid, err := strconv.Atoi(c.line(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code, err := c.wait(); err != nil || code != 137 {
		t.Fatalf("Run() = %d, %v, want 137", code, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("secrets dir still there: %v", err)
	}
}

func TestContextCancel(t *testing.T) {
	tests := []struct {
		name   string
		script string
		code   int
	}{
		{"terminated", `echo "$KEYWARD_SECRETS_DIR"; echo ready; exec sleep 1000`, 128 + 15},
		{"ignores SIGTERM, killed after grace", `trap '' TERM; echo "$KEYWARD_SECRETS_DIR"; echo ready; exec sleep 1000`, 128 + 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			c := start(t, ctx, tc.script, fileSpec, inject.Options{KillGrace: 1})
			dir := c.line(t)
			if l := c.line(t); l != "ready" {
				t.Fatalf("handshake %q", l)
			}
			cancel()
			if code, err := c.wait(); !errors.Is(err, context.Canceled) || code != tc.code {
				t.Fatalf("Run() = %d, %v, want %d, context.Canceled", code, err, tc.code)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("secrets dir still there: %v", err)
			}
		})
	}
}

func TestRefusesBadSpecs(t *testing.T) {
	const v = "never-in-errors-42"
	val := sensitive.NewString(v)
	tests := []struct {
		name string
		spec inject.Spec
	}{
		{"dot dot", inject.Spec{Files: []inject.File{{Name: "../x", Value: val}}}},
		{"absolute", inject.Spec{Files: []inject.File{{Name: "/etc/x", Value: val}}}},
		{"empty name", inject.Spec{Files: []inject.File{{Name: "", Value: val}}}},
		{"dot", inject.Spec{Files: []inject.File{{Name: ".", Value: val}}}},
		{"bare dot dot", inject.Spec{Files: []inject.File{{Name: "..", Value: val}}}},
		{"subdirectory", inject.Spec{Files: []inject.File{{Name: "a/b", Value: val}}}},
		{"NUL in name", inject.Spec{Files: []inject.File{{Name: "a\x00b", Value: val}}}},
		{"duplicate file", inject.Spec{Files: []inject.File{{Name: "a", Value: val}, {Name: "a", Value: val}}}},
		{"file variables collide", inject.Spec{Files: []inject.File{{Name: "db-pass", Value: val}, {Name: "db.pass", Value: val}}}},
		{"bad mode", inject.Spec{Files: []inject.File{{Name: "a", Value: val, Mode: os.ModeSymlink | 0o600}}}},
		{"unreadable mode", inject.Spec{Files: []inject.File{{Name: "a", Value: val, Mode: 0o200}}}},
		{"env name with =", inject.Spec{Env: []inject.EnvVar{{Name: "A=B", Value: val}}}},
		{"empty env name", inject.Spec{Env: []inject.EnvVar{{Name: "", Value: val}}}},
		{"NUL in env value", inject.Spec{Env: []inject.EnvVar{{Name: "A", Value: sensitive.NewString(v + "\x00")}}}},
		{"env collides with dir variable", inject.Spec{Env: []inject.EnvVar{{Name: "KEYWARD_SECRETS_DIR", Value: val}}, Files: []inject.File{{Name: "a", Value: val}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			marker := filepath.Join(root, "ran")
			code, err := inject.Run(t.Context(), []string{"touch", marker}, tc.spec, inject.Options{SecretsRoot: root})
			if err == nil || code != -1 {
				t.Fatalf("Run() = %d, %v; want -1 and an error", code, err)
			}
			if strings.Contains(err.Error(), v) {
				t.Fatalf("error reveals the value: %v", err)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Fatalf("Run left %v in the secrets root (the child ran or a dir was made)", entries)
			}
		})
	}
}

func TestStartFailure(t *testing.T) {
	root := t.TempDir()
	code, err := inject.Run(t.Context(), []string{filepath.Join(root, "no-such-command")}, fileSpec, inject.Options{SecretsRoot: root})
	if err == nil || code != -1 {
		t.Fatalf("Run() = %d, %v; want -1 and an error", code, err)
	}
	if strings.Contains(err.Error(), "file-secret") {
		t.Fatalf("error reveals a value: %v", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("secrets dir left behind: %v", entries)
	}
	if code, err := inject.Run(t.Context(), nil, inject.Spec{}, inject.Options{}); err == nil || code != -1 {
		t.Fatalf("Run(no argv) = %d, %v", code, err)
	}
}

func TestCleanStale(t *testing.T) {
	root := t.TempDir()
	// A pid that is certainly dead: a child we started and reaped.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := dead.ProcessState.Pid()
	mk := func(name string) string {
		p := filepath.Join(root, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "secret"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := mk(fmt.Sprintf("keyward-run-%d-0123abcd", deadPID))
	live := mk(fmt.Sprintf("keyward-run-%d-4567ef01", os.Getpid()))
	init := mk("keyward-run-1-89ab") // pid 1 is always alive
	odd := mk("keyward-run-notapid-x")
	other := mk("something-else")
	file := filepath.Join(root, fmt.Sprintf("keyward-run-%d-file", deadPID))
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := inject.CleanStale(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale dir of dead pid %d kept: %v", deadPID, err)
	}
	for _, p := range []string{live, init, odd, other, file} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s removed: %v", p, err)
		}
	}
	if err := inject.CleanStale(filepath.Join(root, "missing")); err != nil {
		t.Fatalf("CleanStale(missing root) = %v", err)
	}
}

func TestFileEnvName(t *testing.T) {
	for in, want := range map[string]string{"db-pass": "KEYWARD_FILE_DB_PASS", "tls.key": "KEYWARD_FILE_TLS_KEY", "Über": "KEYWARD_FILE___BER", "a1": "KEYWARD_FILE_A1"} {
		if got := inject.FileEnvName(in); got != want {
			t.Errorf("FileEnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDescendantsStoppedAtExit(t *testing.T) {
	// A background job that outlives the child still holds its secrets: it
	// gets SIGTERM when the child exits, and its last output still arrives.
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	script := `sh -c 'trap "echo bg-term; exit 0" TERM; echo > "$FIFO"; sleep 1000 & wait' &
read x < "$FIFO"; echo main-done`
	opts := inject.Options{BaseEnv: append(os.Environ(), "FIFO="+fifo)}
	code, out, err := runSh(t, script, inject.Spec{}, opts)
	if err != nil || code != 0 || out != "main-done\nbg-term\n" {
		t.Fatalf("Run() = %d, %v; output %q, want main-done then bg-term", code, err, out)
	}
}
