package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// TestMain lets the test binary act as the keyward command when re-executed
// with KEYWARD_E2E_MAIN=1, so the tests drive real server processes without
// a separate build step.
func TestMain(m *testing.M) {
	if os.Getenv("KEYWARD_E2E_MAIN") == "1" {
		os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	code := m.Run()
	removeStaticBuild()
	os.Exit(code)
}

func keyward(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "KEYWARD_E2E_MAIN=1")
	return cmd
}

func freeAddr(t *testing.T) string { return nodetest.FreeAddr(t) }

type server struct {
	cmd  *exec.Cmd
	addr string
	out  *bytes.Buffer
}

const rootToken = "e2e-root-token"

// startDev starts a persisted dev server and waits until it answers.
func startDev(t *testing.T, dir string) *server {
	t.Helper()
	addr := freeAddr(t)
	cmd := keyward("server", "-dev-persist", dir, "-dev-listen-address", addr, "-dev-root-token-id", rootToken)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, addr: addr, out: out}
	t.Cleanup(func() { s.kill() })
	deadline := time.Now().Add(clocktest.Wait) // a bound for a loaded machine
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	t.Fatalf("server did not come up:\n%s", out.String())
	return nil
}

func (s *server) kill() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(syscall.SIGKILL)
		s.cmd.Wait()
	}
}

var client = &http.Client{Timeout: 10 * time.Second}

func put(addr, key, value string) (int, error) {
	body, _ := json.Marshal(map[string]any{"data": map[string]any{"v": value}})
	req, _ := http.NewRequest("PUT", "http://"+addr+"/v1/secret/data/"+key, bytes.NewReader(body))
	req.Header.Set("X-Vault-Token", rootToken)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func get(t *testing.T, addr, key string) (string, int) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/secret/data/"+key, nil)
	req.Header.Set("X-Vault-Token", rootToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Data struct {
			Data map[string]string `json:"data"`
		} `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&s)
	return s.Data.Data["v"], resp.StatusCode
}

// T32: kill -9 in the middle of concurrent writes loses no acknowledged
// write, and the store opens every time.
func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	dir := t.TempDir()
	acked := map[string]string{}
	var mu sync.Mutex
	for round := 0; round < 5; round++ {
		s := startDev(t, dir)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					key := fmt.Sprintf("r%d/w%d/k%d", round, w, i)
					val := fmt.Sprintf("value-%d-%d-%d-%d", round, w, i, rand.Int64())
					status, err := put(s.addr, key, val)
					if err != nil {
						return // the server died mid-request: not acknowledged
					}
					if status == 200 {
						mu.Lock()
						acked[key] = val
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(300+rand.IntN(1200)) * time.Millisecond)
		s.kill()
		close(stop)
		wg.Wait()
	}
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged")
	}
	s := startDev(t, dir)
	for key, want := range acked {
		if got, status := get(t, s.addr, key); got != want {
			t.Fatalf("acknowledged write %s lost after kill -9: got %q (status %d)", key, got, status)
		}
	}
	t.Logf("%d acknowledged writes survived 5 kill -9 rounds", len(acked))
}

// writeConfig writes a server config using dir for storage.
func writeConfig(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.hcl")
	cfg := fmt.Sprintf(`
listener "tcp" {
  address = %q
  tls_disable = true
}
storage "bolt" {
  path = %q
}
`, freeAddr(t), dir)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// T34: a damaged store refuses to start with a clear message and is never
// taken for an uninitialized one.
func TestDamagedStoreRefusesToStart(t *testing.T) {
	corruptions := []struct {
		name    string
		corrupt func(t *testing.T, file string)
	}{
		{"truncated into used pages", func(t *testing.T, file string) {
			// Two and a half pages: both meta pages survive, the tree does not.
			if err := os.Truncate(file, 10240); err != nil {
				t.Fatal(err)
			}
		}},
		{"random bytes over page 0", func(t *testing.T, file string) {
			f, err := os.OpenFile(file, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			junk := make([]byte, 4096)
			for i := range junk {
				junk[i] = byte(rand.IntN(256))
			}
			f.WriteAt(junk, 0)
			f.Close()
		}},
		{"emptied file", func(t *testing.T, file string) {
			if err := os.Truncate(file, 0); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range corruptions {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := startDev(t, dir)
			if status, err := put(s.addr, "x", "y"); err != nil || status != 200 {
				t.Fatalf("put: %d %v", status, err)
			}
			s.kill()
			tc.corrupt(t, filepath.Join(dir, "keyward.db"))
			cmd := keyward("server", "-config", writeConfig(t, dir))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatalf("server started on a damaged store:\n%s", out.String())
				}
			case <-ctx.Done():
				cmd.Process.Kill()
				t.Fatalf("server kept running on a damaged store:\n%s", out.String())
			}
			msg := out.String()
			if !strings.Contains(msg, "keyward: error:") || !strings.Contains(strings.ToLower(msg), "corrupt") && !strings.Contains(strings.ToLower(msg), "damaged") {
				t.Errorf("message does not say the store is damaged:\n%s", msg)
			}
			if strings.Contains(msg, "not initialized") {
				t.Errorf("damaged store reported as not initialized:\n%s", msg)
			}
		})
	}
}

// T35: whatever the umask, the data directory is 0700 and files are 0600.
func TestFileModesUnderOpenUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	s := startDev(t, dir)
	if status, err := put(s.addr, "x", "y"); err != nil || status != 200 {
		t.Fatalf("put: %d %v", status, err)
	}
	s.kill()
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %o, want 700", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %o, want 600", e.Name(), info.Mode().Perm())
		}
	}
}

// SIGINT and SIGTERM shut the server down gracefully: exit 0, data kept.
func TestGracefulShutdown(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			s := startDev(t, dir)
			if status, err := put(s.addr, "kept", "value-kept"); err != nil || status != 200 {
				t.Fatalf("put: %d %v", status, err)
			}
			if err := s.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := s.cmd.Wait(); err != nil {
				t.Fatalf("server exited with %v after %s:\n%s", err, sig, s.out.String())
			}
			if !strings.Contains(s.out.String(), "shut down") {
				t.Errorf("no shutdown log line:\n%s", s.out.String())
			}
			s2 := startDev(t, dir)
			if got, _ := get(t, s2.addr, "kept"); got != "value-kept" {
				t.Fatalf("after restart: %q", got)
			}
		})
	}
}
