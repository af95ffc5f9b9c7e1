package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCleanStaleEdits: the directory of a keyward edit that was killed is
// removed; one of a running process (this one, or a live child) is kept.
func TestCleanStaleEdits(t *testing.T) {
	root := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Process.Kill(); live.Wait() })
	mk := func(pid int) string {
		d := filepath.Join(root, fmt.Sprintf("%s%d-x", editDirPrefix, pid))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "secrets.yaml"), []byte("password: planted\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return d
	}
	stale, running, own := mk(dead.Process.Pid), mk(live.Process.Pid), mk(os.Getpid())
	var stderr bytes.Buffer
	cleanStaleEdits(&env{stderr: &stderr}, root)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale %s kept (%v)", stale, err)
	}
	for _, d := range []string{running, own} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s of a running process removed: %v", d, err)
		}
	}
	if !bytes.Contains(stderr.Bytes(), []byte("left by a keyward edit that was killed")) {
		t.Errorf("stderr = %q", stderr.String())
	}
}

// TestEditorGetsNoToken: the editor (and its plugins) never sees
// keyward's token. A stand-in editor records the environment it was
// given.
func TestEditorGetsNoToken(t *testing.T) {
	const token = "kwr_editor_canary_token_0123456789"
	t.Setenv("KEYWARD_TOKEN", token)
	t.Setenv("VAULT_TOKEN", token)
	envFile := filepath.Join(t.TempDir(), "env")
	editor := filepath.Join(t.TempDir(), "editor")
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nenv > '"+envFile+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	e := &env{stdin: bytes.NewReader(nil), stdout: &stderr, stderr: &stderr, getenv: func(k string) string {
		if k == "EDITOR" {
			return editor
		}
		return os.Getenv(k)
	}}
	if _, err := editPlaintext(e, "secrets.yaml", []byte("a: 1\n")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte("PATH=")) {
		t.Fatalf("the stand-in editor recorded no environment: %q", got)
	}
	if bytes.Contains(got, []byte(token)) {
		t.Fatal("the editor's environment holds keyward's token")
	}
}
