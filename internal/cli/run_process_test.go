package cli_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// nobody is the uid (and gid) the process tests run keyward as when the
// test itself runs as root.
const nobody = 65534

// runProc is `keyward run` as a real process of its own, started by a test
// against a real server, in the role a CI job gives it: an unprivileged
// user whose job command runs with the same uid.
type runProc struct {
	dir string // where the job command writes what it saw (0777)
	cmd *exec.Cmd
	out bytes.Buffer // keyward's stdout and stderr: the job log
}

// newRunProc prepares `keyward run ARGS...` against n with n's root token
// in KEYWARD_TOKEN and VAULT_TOKEN, working in a fresh directory. Root
// reads every process's /proc files (CAP_SYS_PTRACE) whatever the process
// does, so when the test runs as root keyward runs as nobody, from a copy of
// this test binary that nobody can execute: only an unprivileged uid shows
// what a job of the same uid can do to keyward.
func newRunProc(t *testing.T, n *nodetest.Node, args ...string) *runProc {
	t.Helper()
	top, err := os.MkdirTemp("", "keyward-run-proc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	dir := filepath.Join(top, "work")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	// MkdirTemp makes 0700 directories and the umask trims Mkdir's mode.
	for _, d := range []string{top, dir} {
		if err := os.Chmod(d, map[bool]os.FileMode{true: 0o755, false: 0o777}[d == top]); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(top, "keyward")
	copyFile(t, self, bin, 0o755)
	tok := n.RootToken.Reveal()
	cmd := &exec.Cmd{
		Path: bin,
		// testscript.Main (TestMain) runs the CLI when argv[0] is "keyward".
		Args: append([]string{"keyward", "run"}, args...),
		Dir:  dir,
		Env: []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + dir,
			"CI=",
			"KEYWARD_ADDR=" + n.URL,
			"KEYWARD_TOKEN=" + tok,
			"VAULT_TOKEN=" + tok,
		},
	}
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	p := &runProc{dir: dir, cmd: cmd}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	// Registered first, so it runs after the test's own cleanups have
	// killed and waited for keyward: the job log is complete by then.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("keyward's output:\n%s", p.out.String())
		}
	})
	return p
}

// start starts keyward. A process forked at the same moment elsewhere in
// this test binary can still hold the fresh copy open for writing until it
// execs (golang/go#22315), which makes exec fail with ETXTBSY; that is
// retried with a new Cmd, a bounded number of times.
func (p *runProc) start(t *testing.T) error {
	t.Helper()
	for try := 0; ; try++ {
		err := p.cmd.Start()
		if err == nil || !errors.Is(err, syscall.ETXTBSY) || try == 200 {
			return err
		}
		time.Sleep(50 * time.Millisecond)
		old := p.cmd
		p.cmd = &exec.Cmd{Path: old.Path, Args: old.Args, Dir: old.Dir, Env: old.Env,
			SysProcAttr: old.SysProcAttr, Stdin: old.Stdin, Stdout: old.Stdout, Stderr: old.Stderr}
	}
}

// run starts keyward as start does and waits for it.
func (p *runProc) run(t *testing.T) error {
	t.Helper()
	if err := p.start(t); err != nil {
		return err
	}
	return p.cmd.Wait()
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// file returns what the job wrote to name in its directory ("" if nothing).
func (p *runProc) file(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// putSecret writes data to the KV version 2 secret at path.
func putSecret(t *testing.T, n *nodetest.Node, path string, data map[string]any) {
	t.Helper()
	c, err := api.New(api.Config{Address: n.URL, Token: api.NewToken(n.RootToken.Reveal())})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(t.Context(), "secret/data/"+path, map[string]any{"data": data}); err != nil {
		t.Fatal(err)
	}
}

// probeScript is run by the job: it tries to read keyward's environment
// and memory through /proc (keyward is its parent) and records in the file
// status whether each read worked, and what it read in the files environ,
// maps and stack (keyward's initial environment sits on its stack).
const probeScript = `p=$PPID
cat /proc/$p/environ > environ 2>/dev/null; echo "environ $?" >> status
cat /proc/$p/maps > maps 2>/dev/null; echo "maps $?" >> status
(exec 3< /proc/$p/mem) 2>/dev/null; echo "mem $?" >> status
r=$(grep '\[stack\]' maps)
if [ -n "$r" ]; then
  s=${r%%-*}; e=${r#*-}; e=${e%% *}
  dd if=/proc/$p/mem of=stack bs=4096 iflag=skip_bytes,count_bytes skip=$((0x$s)) count=$((0x$e - 0x$s)) 2>/dev/null
  echo "stack $?" >> status
fi
echo "KEYWARD_TOKEN=${KEYWARD_TOKEN:-unset} VAULT_TOKEN=${VAULT_TOKEN:-unset}"
`

// TestRunChildCannotReadKeyward: the job command runs with keyward's uid,
// so while keyward is dumpable the job can read its parent's environment
// (the job token) and memory (the secrets) through /proc. keyward makes
// itself non-dumpable first: every read fails, the token is in no file the
// job wrote, and is not in the job's environment unless --pass-token asks,
// in which case it is masked in the log like any secret.
func TestRunChildCannotReadKeyward(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("no /proc")
	}
	t.Parallel()
	n := nodetest.Start(t)
	const secret = "db-Pa55word-in-memory"
	putSecret(t, n, "ci/db", map[string]any{"password": secret})
	tok := n.RootToken.Reveal()

	tests := []struct {
		name    string
		flags   []string
		wantEnv string // what the job prints about its own token variables
	}{
		{"default", nil, "KEYWARD_TOKEN=unset VAULT_TOKEN=unset"},
		{"pass-token", []string{"--pass-token"}, "KEYWARD_TOKEN=*** VAULT_TOKEN=***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{}, tt.flags...), "--env", "DB_PASS=secret/ci/db#password", "--", "sh", "-c", probeScript)
			p := newRunProc(t, n, args...)
			if err := p.run(t); err != nil {
				t.Fatalf("keyward run: %v; log %q", err, p.out.String())
			}
			status := p.file(t, "status")
			for _, read := range []string{"environ", "maps", "mem"} {
				if !strings.Contains(status, read+" ") || strings.Contains(status, read+" 0\n") {
					t.Errorf("job read keyward's /proc/PID/%s (status %q)", read, status)
				}
			}
			for _, f := range []string{"environ", "maps", "stack"} {
				got := p.file(t, f)
				if strings.Contains(got, tok) || strings.Contains(got, secret) {
					t.Errorf("job found the token or the secret in keyward's %s", f)
				}
			}
			log := p.out.String()
			if strings.Contains(log, tok) {
				t.Fatal("the token is in the job log")
			}
			if !strings.Contains(log, tt.wantEnv) {
				t.Errorf("job log %q, want %q", log, tt.wantEnv)
			}
		})
	}
}

// TestRunChildDiesWithKeyward: keyward killed with SIGKILL cannot stop its
// job, but the job must not outlive it with the secrets: the child (through
// PR_SET_PDEATHSIG) and its background jobs (the guard process kills the
// child's process group) die too.
func TestRunChildDiesWithKeyward(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t)
	putSecret(t, n, "ci/db", map[string]any{"password": "db-Pa55word-long"})
	p := newRunProc(t, n, "--env", "DB_PASS=secret/ci/db#password", "--", "sh", "-c",
		`sleep 1000 & echo $! > bg.pid; echo $$ > child.pid; wait`)
	if err := p.start(t); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	pids := map[string]int{}
	for _, f := range []string{"child.pid", "bg.pid"} {
		clocktest.Eventually(t, "job wrote "+f, func() bool { return strings.HasSuffix(p.file(t, f), "\n") })
		pid, err := strconv.Atoi(strings.TrimSpace(p.file(t, f)))
		if err != nil {
			t.Fatal(err)
		}
		pids[f] = pid
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	for f, pid := range pids {
		clocktest.Eventually(t, "process of "+f+" gone after kill -9 of keyward", func() bool { return gone(pid) })
	}
}

// gone reports whether pid has exited (a zombie has: it holds no memory).
func gone(pid int) bool {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) STATE ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(raw, ')')
	return i < 0 || i+2 >= len(raw) || raw[i+2] == 'Z' || raw[i+2] == 'X'
}
