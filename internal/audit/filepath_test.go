package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/logical/logicaltest"
)

// tree records every file under the roots: type, mode, and content or link
// target, so a test can show a refusal changed nothing.
func tree(t *testing.T, roots ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			desc := fi.Mode().String()
			switch {
			case fi.Mode()&os.ModeSymlink != 0:
				target, _ := os.Readlink(p)
				desc += " -> " + target
			case fi.Mode().IsRegular():
				raw, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				desc += fmt.Sprintf(" %x", sha256.Sum256(raw))
			}
			out[p] = desc
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func writeFile(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

// Item 1 of issue 10: a file device writes only inside the audit directory
// and never into a file it did not create, whatever file_path names. Each
// refusal is a 400 and leaves every file inside and outside the directory
// as it was (content and mode), creating nothing.
func TestFileDeviceOutsideItsPlaceIsRefused(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	config := filepath.Join(outside, "keyward.hcl")
	writeFile(t, config, "storage \"bolt\" { path = \"/var/lib/keyward\" }\n", 0o640)
	tlsKey := filepath.Join(outside, "tls.key")
	writeFile(t, tlsKey, "-----BEGIN PRIVATE KEY-----\n", 0o600)
	script := filepath.Join(outside, "deploy.sh")
	writeFile(t, script, "#!/bin/sh\necho deploy\n", 0o755)
	writeFile(t, filepath.Join(dir, "run.sh"), "#!/bin/sh\necho hourly\n", 0o755)
	if err := os.Symlink(script, filepath.Join(dir, "link.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../run.sh", filepath.Join(dir, "logs", "inner.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(script, filepath.Join(dir, "hard.log")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "wide.log"), "", 0o644)
	writeFile(t, filepath.Join(dir, "json.log"), `{"time":"2026-01-02T03:04:05Z","type":"request","seq":1,"prev":""}`+"\n", 0o600)

	b := newBroker(t, audit.Options{Dir: dir, Protected: []string{config, tlsKey}})
	b.enable(t, "other", "file", map[string]string{"file_path": filepath.Join(dir, "other.log")})
	b.traffic(t, 1)
	if _, err := b.sys(t, logical.DeleteOperation, "audit/other", nil); err != nil {
		t.Fatal(err)
	}

	tests := []struct{ name, path string }{
		{"outside the directory", filepath.Join(outside, "audit.log")},
		{"an existing script outside", script},
		{"the configuration file", config},
		{"the TLS key", tlsKey},
		{"dotdot out of the directory", filepath.Join(dir, "..", filepath.Base(outside), "audit.log")},
		{"a symlink to a script", filepath.Join(dir, "link.log")},
		{"a symlink inside the directory", filepath.Join(dir, "logs", "inner.log")},
		{"through a symlinked directory", filepath.Join(dir, "sub", "audit.log")},
		{"an existing script inside", filepath.Join(dir, "run.sh")},
		{"a hard link to a script", filepath.Join(dir, "hard.log")},
		{"an existing file of JSON lines", filepath.Join(dir, "json.log")},
		{"an empty file with a wider mode", filepath.Join(dir, "wide.log")},
		{"another device's log", filepath.Join(dir, "other.log")},
		{"a hidden file", filepath.Join(dir, ".profile")},
		{"a missing subdirectory", filepath.Join(dir, "nope", "audit.log")},
		{"the directory itself", dir},
		{"relative", "audit.log"},
		{"dash", "-"},
		{"a device file", "/dev/stdout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tree(t, dir, outside)
			_, err := b.sys(t, logical.UpdateOperation, "audit/bad", map[string]any{"type": "file", "options": map[string]any{"file_path": tt.path}})
			if status, _, _ := logical.StatusOf(err); status != 400 {
				t.Fatalf("enable at %s = %v (status %d), want 400", tt.path, err, status)
			}
			if after := tree(t, dir, outside); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("refusal changed files:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	if resp, err := b.sys(t, logical.ReadOperation, "audit", nil); err != nil || len(resp.Data) != 0 {
		t.Fatalf("devices after refusals = %v, %v", resp, err)
	}
}

// The audit directory itself is checked: never the root, a system
// directory, the data directory or one holding it, or one holding the
// configuration or TLS files.
func TestAuditDirectoryIsChecked(t *testing.T) {
	data := t.TempDir()
	parent := t.TempDir()
	config := filepath.Join(parent, "keyward.hcl")
	writeFile(t, config, "", 0o600)
	tests := []struct {
		name, dir string
		ok        bool
	}{
		{"dedicated", filepath.Join(data, "audit"), true},
		{"unset", "", true}, // file devices are then refused
		{"root", "/", false},
		{"etc", "/etc/keyward", false},
		{"cron", "/var/spool/cron", false},
		{"usr", "/usr/local/keyward", false},
		{"proc", "/proc/self", false},
		{"relative", "audit", false},
		{"the data directory", data, false},
		{"holds the data directory", filepath.Dir(data), false},
		{"holds the configuration", parent, false},
	}
	if err := os.Mkdir(filepath.Join(data, "audit"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := audit.Options{Dir: tt.dir, Protected: []string{data, config}}.Check()
			if (err == nil) != tt.ok {
				t.Fatalf("Check(%q) = %v, want ok=%v", tt.dir, err, tt.ok)
			}
		})
	}
	// Without a directory, file devices are refused (stdout still works).
	ab, err := audit.New(t.Context(), &logicaltest.InmemStorage{}, nil, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ab.Close()
	b := &testBroker{Broker: ab}
	_, err = b.sys(t, logical.UpdateOperation, "audit/f", map[string]any{"type": "file", "options": map[string]any{"file_path": filepath.Join(data, "audit", "a.log")}})
	if status, _, _ := logical.StatusOf(err); status != 400 || !strings.Contains(err.Error(), "audit directory") {
		t.Errorf("enable without an audit directory = %v, want 400 naming the audit directory", err)
	}
}

// A device re-opens its own log: after a restart, after disable and
// enable again, and after rotation. The log verifies throughout, and a new
// file starts with a signed open checkpoint naming the device.
func TestFileDeviceReopensItsOwnLog(t *testing.T) {
	dir := t.TempDir()
	opts := audit.Options{Dir: dir}
	b := newBroker(t, opts)
	p := filepath.Join(dir, "audit.log")
	b.enable(t, "file", "file", map[string]string{"file_path": p})
	pub := b.publicKey(t, "file")
	b.traffic(t, 2)
	b.Close()
	first, _, _ := bytes.Cut(mustRead(t, p), []byte("\n"))
	if !bytes.Contains(first, []byte(`"checkpoint":{"reason":"open","device":"file"}`)) || !bytes.Contains(first, []byte(`"seq":1,"prev":""`)) {
		t.Errorf("first line = %s, want a signed open checkpoint naming the device", first)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("new log mode = %v, %v; want 0600", fi, err)
	}

	b2, err := audit.New(t.Context(), b.view, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	tb2 := &testBroker{b2, b.view}
	tb2.traffic(t, 2)
	if _, err := tb2.sys(t, logical.DeleteOperation, "audit/file", nil); err != nil {
		t.Fatal(err)
	}
	tb2.enable(t, "file", "file", map[string]string{"file_path": p})
	tb2.traffic(t, 2)
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	if err := b2.Reopen(); err != nil {
		t.Fatal(err)
	}
	tb2.traffic(t, 2)
	b2.Close()
	rep, err := verify(pub, false, [2]string{"audit.log.1", string(mustRead(t, p+".1"))}, [2]string{"audit.log", string(mustRead(t, p))})
	if err != nil || rep.Entries != 16 {
		t.Errorf("Verify = %+v, %v; want 16 entries", rep, err)
	}
}

// After rotation the path may hold something else by the time the device
// reopens: a symlink or a foreign file is refused (requests fail closed),
// and the device writes again once the path is free.
func TestReopenFollowsTheSameRules(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	b := newBroker(t, audit.Options{Dir: dir})
	p := filepath.Join(dir, "audit.log")
	b.enable(t, "file", "file", map[string]string{"file_path": p})
	target := filepath.Join(outside, "crontab")
	writeFile(t, target, "* * * * * true\n", 0o644)
	for _, plant := range []func() error{
		func() error { return os.Symlink(target, p) },
		func() error { return os.WriteFile(p, []byte("#!/bin/sh\n"), 0o600) },
	} {
		if err := os.Rename(p, p+".1"); err != nil {
			t.Fatal(err)
		}
		if err := plant(); err != nil {
			t.Fatal(err)
		}
		before := tree(t, dir, outside)
		if err := b.Reopen(); err == nil {
			t.Error("Reopen onto a planted file succeeded")
		}
		req := &logical.Request{Operation: logical.ReadOperation, Path: "secret/data/x"}
		if err := b.LogRequest(context.Background(), req, nil); !errors.Is(err, audit.ErrNoDevice) {
			t.Errorf("LogRequest with the planted file = %v, want ErrNoDevice", err)
		}
		if after := tree(t, dir, outside); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("reopen changed files:\nbefore %v\nafter  %v", before, after)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(p + ".1"); err != nil {
			t.Fatal(err)
		}
		if err := b.Reopen(); err != nil {
			t.Fatalf("Reopen onto a free path: %v", err)
		}
	}
}

// A log written before files had a header (it starts at seq 1 and ends
// with the device's signed close checkpoint) is still its device's log.
func TestLegacyLogIsContinued(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "audit.log")
	legacy, err := os.ReadFile("testdata/legacy.log")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, string(legacy), 0o600)
	b := newBroker(t, audit.Options{Dir: dir})
	keys := `{"hmac":"` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)) +
		`","ed25519_seed":"` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32)) + `"}`
	if err := b.view.Put(t.Context(), "keys/file", []byte(keys)); err != nil {
		t.Fatal(err)
	}
	b.enable(t, "file", "file", map[string]string{"file_path": p})
	pub := b.publicKey(t, "file")
	b.traffic(t, 2)
	b.Close()
	if _, err := verify(pub, false, [2]string{"audit.log", string(mustRead(t, p))}); err != nil {
		t.Errorf("continued legacy log does not verify: %v", err)
	}
	// Another device (another key) may not take it over.
	writeFile(t, p, string(legacy), 0o600)
	b2 := newBroker(t, audit.Options{Dir: dir})
	_, err = b2.sys(t, logical.UpdateOperation, "audit/file", map[string]any{"type": "file", "options": map[string]any{"file_path": p}})
	if status, _, _ := logical.StatusOf(err); status != 400 {
		t.Errorf("another device's legacy log = %v, want 400", err)
	}
}

// A stored device whose path the configuration no longer allows does not
// stop the server: it is listed, logged as refused, and records nothing.
func TestStoredDeviceNowOutsideTheDirectory(t *testing.T) {
	oldDir := t.TempDir()
	b := newBroker(t, audit.Options{Dir: oldDir})
	p := filepath.Join(oldDir, "audit.log")
	b.enable(t, "file", "file", map[string]string{"file_path": p})
	b.traffic(t, 1)
	b.Close()
	before := tree(t, oldDir)
	var logs bytes.Buffer
	b2, err := audit.New(t.Context(), b.view, slog.New(slog.NewJSONHandler(&logs, nil)), audit.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("New with a now-refused device: %v", err)
	}
	defer b2.Close()
	tb2 := &testBroker{b2, b.view}
	if resp, err := tb2.sys(t, logical.ReadOperation, "audit", nil); err != nil || resp.Data["file/"] == nil {
		t.Fatalf("refused device not listed: %v, %v", resp, err)
	}
	req := &logical.Request{Operation: logical.ReadOperation, Path: "secret/data/x"}
	if err := b2.LogRequest(context.Background(), req, nil); !errors.Is(err, audit.ErrNoDevice) {
		t.Errorf("LogRequest = %v, want ErrNoDevice", err)
	}
	if !strings.Contains(logs.String(), "refused by server policy") || !strings.Contains(logs.String(), "audit directory") {
		t.Errorf("log does not explain the refusal:\n%s", logs.String())
	}
	if after := tree(t, oldDir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("refused device changed its old file")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
