package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/node/nodetest"
)

func client(t testing.TB, n *nodetest.Node) *api.Client {
	t.Helper()
	c, err := api.New(api.Config{Address: n.URL, Token: api.NewToken(n.RootToken.Reveal()), Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func enableFile(t testing.TB, c *api.Client, name, path string, extra map[string]string) {
	t.Helper()
	opts := map[string]any{"file_path": path}
	for k, v := range extra {
		opts[k] = v
	}
	if _, err := c.Write(context.Background(), "sys/audit/"+name, map[string]any{"type": "file", "options": opts}); err != nil {
		t.Fatalf("enable %s: %v", name, err)
	}
}

func pubKey(t testing.TB, c *api.Client, name string) ed25519.PublicKey {
	t.Helper()
	s, err := c.Read(context.Background(), "sys/audit/"+name+"/public-key", nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := base64.StdEncoding.DecodeString(s.Data["public_key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func kvPut(c *api.Client, path string, data map[string]any) error {
	_, err := c.Write(context.Background(), "secret/data/"+path, map[string]any{"data": data})
	return err
}

// The Vault Go client enables, lists, hashes with and disables devices.
func TestVaultClientAudit(t *testing.T) {
	n := nodetest.Start(t)
	vc := n.Client(t)
	p := logPath(t)
	err := vc.Sys().EnableAuditWithOptions("file1", &vault.EnableAuditOptions{Type: "file", Description: "main", Options: map[string]string{"file_path": p}})
	if err != nil {
		t.Fatalf("EnableAuditWithOptions: %v", err)
	}
	list, err := vc.Sys().ListAudit()
	if err != nil || list["file1/"] == nil || list["file1/"].Type != "file" || list["file1/"].Options["file_path"] != p {
		t.Fatalf("ListAudit = %+v, %v", list, err)
	}
	if _, err := vc.Logical().Write("secret/data/app", map[string]any{"data": map[string]any{"password": "hunter2-canary"}}); err != nil {
		t.Fatal(err)
	}
	h, err := vc.Sys().AuditHash("file1", "hunter2-canary")
	if err != nil || !strings.HasPrefix(h, audit.HMACPrefix) {
		t.Fatalf("AuditHash = %q, %v", h, err)
	}
	raw, _ := os.ReadFile(p)
	if !bytes.Contains(raw, []byte(h)) || bytes.Contains(raw, []byte("hunter2-canary")) {
		t.Fatalf("log holds the HMAC: %v, the value: %v", bytes.Contains(raw, []byte(h)), bytes.Contains(raw, []byte("hunter2-canary")))
	}
	if err := vc.Sys().DisableAudit("file1"); err != nil {
		t.Fatalf("DisableAudit: %v", err)
	}
	if list, err := vc.Sys().ListAudit(); err != nil || len(list) != 0 {
		t.Fatalf("ListAudit after disable = %+v, %v", list, err)
	}
	raw, _ = os.ReadFile(p)
	k := pubKey(t, client(t, n), "file1")
	if _, err := audit.Verify([]audit.Input{{Name: p, R: bytes.NewReader(raw)}}, audit.VerifyOptions{PublicKey: k}); err != nil {
		t.Errorf("log of a disabled device does not verify: %v", err)
	}
}

// T40: dangerous device settings are refused.
func TestConfigAbuse(t *testing.T) {
	dir := t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{Dir: dir})
	c := client(t, n)
	ok := filepath.Join(t.TempDir(), "audit.log")
	link := filepath.Join(t.TempDir(), "link.log")
	if err := os.Symlink("/etc/passwd", link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		typ  string
		opts map[string]any
	}{
		{"inside data dir", "file", map[string]any{"file_path": filepath.Join(dir, "audit.log")}},
		{"data dir via dotdot", "file", map[string]any{"file_path": filepath.Join(t.TempDir(), "..", filepath.Base(dir), "x.log")}},
		{"dotdot", "file", map[string]any{"file_path": "/tmp/../etc/cron.d/x"}},
		{"relative", "file", map[string]any{"file_path": "audit.log"}},
		{"mode 0755", "file", map[string]any{"file_path": ok, "mode": "0755"}},
		{"mode 0644", "file", map[string]any{"file_path": ok, "mode": "0644"}},
		{"prefix shebang", "file", map[string]any{"file_path": ok, "prefix": "#!/bin/sh\n"}},
		{"symlink", "file", map[string]any{"file_path": link}},
		{"log_raw", "file", map[string]any{"file_path": ok, "log_raw": "true"}},
		{"metadata ip", "socket", map[string]any{"address": "169.254.169.254:80"}},
		{"metadata ipv6", "socket", map[string]any{"address": "[fd00:ec2::254]:80"}},
		{"metadata name", "socket", map[string]any{"address": "metadata.google.internal:80"}},
		{"link-local v6", "socket", map[string]any{"address": "[fe80::1]:80"}},
		{"unspecified", "socket", map[string]any{"address": "0.0.0.0:9000"}},
		{"unknown type", "exec", map[string]any{"command": "/bin/sh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Write(context.Background(), "sys/audit/bad", map[string]any{"type": tt.typ, "options": tt.opts})
			if !api.IsStatus(err, http.StatusBadRequest) {
				t.Fatalf("enable %s %v = %v, want 400", tt.typ, tt.opts, err)
			}
		})
	}
	if s, err := c.Read(context.Background(), "sys/audit", nil); err != nil || len(s.Data) != 0 {
		t.Fatalf("devices after refusals = %v, %v", s, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "audit.log")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused device created a file in the data dir: %v", err)
	}
}

// blackhole accepts connections and never reads from them.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetReadBuffer(4096)
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// bulky is request data whose audit entry is large even hashed: keys stay
// readable.
func bulky() map[string]any {
	d := map[string]any{}
	for i := range 400 {
		d[fmt.Sprintf("key-%04d-%s", i, strings.Repeat("k", 100))] = "v"
	}
	return d
}

// T37: a sole socket device whose peer never reads refuses requests within
// its write timeout; with a second, working device, requests succeed and
// the good device has every entry.
func TestFailClosedBlackhole(t *testing.T) {
	n := nodetest.Start(t)
	c := client(t, n)
	addr := blackhole(t)
	if _, err := c.Write(context.Background(), "sys/audit/hole", map[string]any{"type": "socket", "options": map[string]any{"address": addr, "write_timeout": "300ms"}}); err != nil {
		t.Fatal(err)
	}
	var failed error
	for i := 0; i < 500 && failed == nil; i++ {
		failed = kvPut(c, "bulk", bulky())
	}
	if !api.IsStatus(failed, http.StatusInternalServerError) || !strings.Contains(failed.Error(), "audit: no device could record the request") {
		t.Fatalf("writes to a blackholed sole device: last error %v, want 500 audit refusal", failed)
	}
	if _, err := c.Read(context.Background(), "secret/data/bulk", nil); !api.IsStatus(err, http.StatusInternalServerError) {
		t.Fatalf("read with the only device stalled = %v, want 500", err)
	}

	good := logPath(t)
	// Enabling needs its own request recorded: retry past the stalled
	// device's backoff.
	if err := retry(t, func() error {
		_, err := c.Write(context.Background(), "sys/audit/good", map[string]any{"type": "file", "options": map[string]any{"file_path": good}})
		return err
	}); err != nil {
		t.Fatalf("enable a second device: %v", err)
	}
	for i := range 20 {
		if err := kvPut(c, "two", map[string]any{"n": i}); err != nil {
			t.Fatalf("write %d with one good device: %v", i, err)
		}
	}
	raw, _ := os.ReadFile(good)
	if got := bytes.Count(raw, []byte(`"path":"secret/data/two"`)); got != 40 {
		t.Errorf("good device holds %d entries for secret/data/two, want 40", got)
	}
}

// retry calls f until it succeeds or clocktest.Wait passes (devices back
// off after a failure; this waits for recovery without assuming its timing).
func retry(t *testing.T, f func() error) error {
	t.Helper()
	deadline := time.Now().Add(clocktest.Wait)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-t.Context().Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// T37 with a full disk: the sole device's file sits on a tiny tmpfs.
// Requests are refused while it is full and served again once space is
// freed, without restart; the log still verifies.
func TestFailClosedFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); the blackhole test covers fail-closed", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	n := nodetest.Start(t)
	c := client(t, n)
	p := filepath.Join(dir, "audit.log")
	enableFile(t, c, "file", p, nil)
	pub := pubKey(t, c, "file")
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 128<<10)) // fills the tmpfs; the error is expected
	f.Close()
	// The file's last page may still have room: write until it is full.
	for i := 0; i < 500 && err == nil; i++ {
		err = kvPut(c, "full", map[string]any{"v": rand.Text()})
	}
	if !api.IsStatus(err, http.StatusInternalServerError) {
		t.Fatalf("write on a full disk = %v, want 500", err)
	}
	_, err = c.Read(context.Background(), "secret/data/full", nil)
	if !api.IsStatus(err, http.StatusInternalServerError) {
		t.Fatalf("read on a full disk = %v, want 500", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := retry(t, func() error { return kvPut(c, "full", map[string]any{"v": "after"}) }); err != nil {
		t.Fatalf("device did not recover: %v", err)
	}
	vc := n.Client(t)
	if err := vc.Sys().DisableAudit("file"); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	if _, err := audit.Verify([]audit.Input{{Name: p, R: bytes.NewReader(raw)}}, audit.VerifyOptions{PublicKey: pub}); err != nil {
		t.Errorf("log after a full disk does not verify: %v", err)
	}
}

// T37 with a file replaced by a directory (logrotate gone wrong): after
// SIGHUP the device cannot reopen its path, requests are refused, and they
// are served again once the path is writable.
func TestFailClosedUnwritableFile(t *testing.T) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP) // SIGHUP must never kill the test binary
	defer signal.Stop(hup)
	n := nodetest.Start(t)
	c := client(t, n)
	p := logPath(t)
	enableFile(t, c, "file", p, nil)
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The handler runs asynchronously: wait until requests are refused.
	err := retry(t, func() error {
		if err := kvPut(c, "x", map[string]any{"v": "1"}); !api.IsStatus(err, http.StatusInternalServerError) {
			return fmt.Errorf("write = %v, want 500", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("device reopened onto a directory: %v", err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := retry(t, func() error { return kvPut(c, "x", map[string]any{"v": "2"}) }); err != nil {
		t.Fatalf("device did not recover: %v", err)
	}
}

// Item 1 of issue 10 over HTTP: a token with sudo on sys/audit cannot turn
// an existing script (or a symlink to one) into an audit log; the refusal
// is a 400 and the script keeps its content and mode while anonymous
// requests with shell code in their path arrive.
func TestFileDeviceRefusalsOverHTTP(t *testing.T) {
	n := nodetest.Start(t)
	c := client(t, n)
	dir := t.TempDir()
	script := filepath.Join(dir, "deploy.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho deploy\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(script, 0o755)
	link := filepath.Join(dir, "link.log")
	if err := os.Symlink(script, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{script, link} {
		_, err := c.Write(context.Background(), "sys/audit/evil", map[string]any{"type": "file", "options": map[string]any{"file_path": p}})
		if !api.IsStatus(err, http.StatusBadRequest) {
			t.Errorf("enable at %s = %v, want 400", p, err)
		}
		anon, _ := api.New(api.Config{Address: n.URL})
		anon.Read(context.Background(), "sys/$(id)", nil)
		fi, err := os.Stat(script)
		if raw, _ := os.ReadFile(script); string(raw) != "#!/bin/sh\necho deploy\n" || err != nil || fi.Mode().Perm() != 0o755 {
			t.Fatalf("script after enable at %s: mode %v, content %q", p, fi.Mode(), raw)
		}
	}
}
