package bolt_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/storage/bolt"
)

const (
	helperEnv  = "KEYWARD_BOLT_HELPER_PATH"
	helperRun  = "KEYWARD_BOLT_HELPER_RUN"
	helperWrts = 32
)

// valueFor derives the value written for key, so the parent can check it.
func valueFor(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return []byte(hex.EncodeToString(sum[:]) + strings.Repeat("v", int(sum[0])))
}

// TestHelperProcess is the child of TestKill9KeepsAcknowledgedWrites: it
// writes unique keys from 32 goroutines forever and prints each key after
// Put returns. It does nothing in a normal test run.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestKill9KeepsAcknowledgedWrites")
	}
	run := os.Getenv(helperRun)
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	fmt.Println("ready")
	for w := range helperWrts {
		go func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("r%s/w%02d/%06d", run, w, i)
				if err := s.Put(t.Context(), key, valueFor(key)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(4)
				}
				mu.Lock()
				out.WriteString(key + "\n")
				out.Flush() // the ack leaves the process before the next write
				mu.Unlock()
			}
		}()
	}
	select {}
}

// TestKill9KeepsAcknowledgedWrites kills a writing child with SIGKILL at a
// random moment, five times over the same file, and checks that the file
// opens every time and holds every write the child acknowledged.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "data", "keyward.db")
	var acked []string
	for run := range 5 {
		keys := runAndKill(t, path, run)
		if len(keys) == 0 {
			t.Fatalf("run %d: child acknowledged no writes", run)
		}
		acked = append(acked, keys...)

		s, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			t.Fatalf("run %d: Open after kill -9 = %v", run, err)
		}
		for _, k := range acked {
			got, err := s.Get(t.Context(), k)
			if err != nil {
				t.Fatalf("run %d: acknowledged key %s lost: %v", run, k, err)
			}
			if string(got) != string(valueFor(k)) {
				t.Fatalf("run %d: acknowledged key %s has a wrong or partial value", run, k)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d: %d acknowledged writes survived kill -9 (%d in total)", run, len(keys), len(acked))
	}
}

// startHelper starts the writing helper on path and returns once it has
// opened the store, with a reader positioned at its first ack.
func startHelper(t *testing.T, path string, run int) (*exec.Cmd, *bufio.Reader, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path, fmt.Sprintf("%s=%d", helperRun, run))
	stderr := new(strings.Builder)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() }) // if the test fails midway

	r := bufio.NewReader(stdout)
	if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("run %d: helper did not start: %q %v; stderr: %s", run, line, err, stderr)
	}
	return cmd, r, stderr
}

// TestOpenWhileAnotherProcessWrites checks that a store held by another,
// busy process fails Open with ErrLocked within the timeout: not a hang,
// and never a corruption report from reading pages mid-commit.
func TestOpenWhileAnotherProcessWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "keyward.db")
	cmd, r, _ := startHelper(t, path, 0)
	go io.Copy(io.Discard, r)
	for range 3 {
		s, err := bolt.Open(path, bolt.Options{Timeout: 200 * time.Millisecond})
		if err == nil {
			s.Close()
			t.Fatal("Open of a file another process holds = nil error, want ErrLocked")
		}
		if !errors.Is(err, bolt.ErrLocked) {
			t.Fatalf("Open of a file another process holds = %v, want ErrLocked", err)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	open(t, path, bolt.Options{})
}

// runAndKill starts the helper on path, lets it write for a random
// 100-400 ms after it is ready, kills it with SIGKILL and returns the keys
// it acknowledged (complete lines only).
func runAndKill(t *testing.T, path string, run int) []string {
	t.Helper()
	cmd, r, stderr := startHelper(t, path, run)
	timer := time.AfterFunc(time.Duration(100+rand.IntN(300))*time.Millisecond, func() {
		cmd.Process.Signal(syscall.SIGKILL)
	})
	defer timer.Stop()

	var keys []string
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			break // a torn last line has no newline and is not an ack
		}
		if err != nil {
			t.Fatalf("run %d: read acks: %v", run, err)
		}
		keys = append(keys, strings.TrimSuffix(line, "\n"))
	}
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("run %d: helper ended with %v, want SIGKILL; stderr: %s", run, err, stderr)
	}
	return keys
}
