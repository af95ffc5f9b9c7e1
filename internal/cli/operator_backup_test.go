package cli_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	vault "github.com/hashicorp/vault/api"
	bbolt "go.etcd.io/bbolt"

	"github.com/keyward/keyward/internal/backup"
	"github.com/keyward/keyward/internal/node"
	"github.com/keyward/keyward/internal/node/nodetest"
)

func TestOperatorBackupWhileServing(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	// The audit device's file lives outside both data directories, so the
	// restored server finds it too.
	auditDir := t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{Dir: dir, Shares: 3, Threshold: 2, AuditDir: auditDir})
	c := n.Client(t)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KEYWARD_ADDR", n.URL)
	t.Setenv("KEYWARD_TOKEN", n.RootToken.Reveal())

	auditLog := filepath.Join(auditDir, "audit.log")
	if err := c.Sys().EnableAuditWithOptionsWithContext(ctx, "file", &vault.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": auditLog}}); err != nil {
		t.Fatalf("enable audit: %v", err)
	}
	canary := "canary-" + rand.Text()
	if _, err := c.KVv2("secret").Put(ctx, "app", map[string]any{"password": canary}); err != nil {
		t.Fatal(err)
	}
	if err := c.Sys().RotateWithContext(ctx); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	for i := range 20 {
		if _, err := c.KVv2("secret").Put(ctx, fmt.Sprintf("pre/%d", i), map[string]any{"v": i}); err != nil {
			t.Fatal(err)
		}
	}

	// Eight writers keep going through the backup.
	var acked [8]atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var werr atomic.Pointer[error]
	for w := range 8 {
		wg.Go(func() {
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.KVv2("secret").Put(ctx, fmt.Sprintf("during/%d/%d", w, i), map[string]any{"i": i}); err != nil {
					werr.Store(&err)
					return
				}
				acked[w].Store(i + 1)
			}
		})
	}
	for acked[7].Load() == 0 {
		runtime.Gosched()
	}
	var before [8]int64
	for w := range acked {
		before[w] = acked[w].Load()
	}
	file := filepath.Join(t.TempDir(), "b", "keyward.kwb")
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "operator", "backup", file)
	var after [8]int64
	for w := range acked {
		after[w] = acked[w].Load()
	}
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("operator backup = %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if p := werr.Load(); p != nil {
		t.Fatalf("write during backup: %v", *p)
	}
	if !strings.Contains(out, "SHA-256") || !strings.Contains(out, "bolt") {
		t.Errorf("backup output lacks the hash or storage type:\n%s", out)
	}
	if ents, _ := os.ReadDir(filepath.Dir(file)); len(ents) != 1 {
		t.Errorf("backup directory holds %d entries, want only the backup", len(ents))
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, %v; want mode 0600", fi, err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	br, err := backup.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if h := br.Header; h.StorageType != "bolt" || h.ClusterID == "" || h.KeyTerm < 2 || h.Version != backup.Version {
		t.Errorf("header = %+v; want bolt, a cluster id and the rotated term", h)
	}
	if code, out, errOut := runCLI(t, "operator", "backup", "inspect", file); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("inspect = %d\n%s%s", code, out, errOut)
	}

	// Restore refuses the running server's directory.
	if code, _, errOut := runCLI(t, "operator", "backup", "restore", file, "-path", dir); code != 1 || !strings.Contains(errOut, "locked") {
		t.Errorf("restore over a running server = %d, %s", code, errOut)
	}

	// Damaged copies are refused by inspect and restore.
	damaged := map[string][]byte{"truncated": raw[:len(raw)-100], "flipped": bytes.Clone(raw)}
	damaged["flipped"][len(raw)/2] ^= 1
	for name, b := range damaged {
		p := filepath.Join(t.TempDir(), name+".kwb")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if code, _, errOut := runCLI(t, "operator", "backup", "inspect", p); code != 1 || !strings.Contains(errOut, "corrupt") {
			t.Errorf("inspect %s backup = %d, %s", name, code, errOut)
		}
		rdir := filepath.Join(t.TempDir(), "r")
		if code, _, errOut := runCLI(t, "operator", "backup", "restore", p, "-path", rdir); code != 1 || !strings.Contains(errOut, "corrupt") {
			t.Errorf("restore %s backup = %d, %s", name, code, errOut)
		}
		if _, err := os.Stat(filepath.Join(rdir, node.DBFile)); !os.IsNotExist(err) {
			t.Errorf("restore of a %s backup left a store file: %v", name, err)
		}
		if ents, _ := os.ReadDir(rdir); len(ents) != 0 {
			t.Errorf("restore of a %s backup left %d files", name, len(ents))
		}
	}

	// Restore into a new directory, start a server there, unseal with the
	// same shares, and read what was written before the backup.
	dir2 := filepath.Join(t.TempDir(), "restored")
	if code, out, errOut := runCLI(t, "operator", "backup", "restore", file, "-path", dir2); code != 0 {
		t.Fatalf("restore = %d\n%s%s", code, out, errOut)
	}
	db, err := bbolt.Open(filepath.Join(dir2, node.DBFile), 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("restored file is not a bolt db: %v", err)
	}
	db.Close()
	n2 := nodetest.StartWith(t, nodetest.Options{Dir: dir2, Reopen: n.Shares[1:3], AuditDir: auditDir})
	c2 := n2.Client(t)
	c2.SetToken(n.RootToken.Reveal())
	s, err := c2.KVv2("secret").Get(ctx, "app")
	if err != nil || s.Data["password"] != canary {
		t.Fatalf("restored secret/app: %v (match %t)", err, err == nil && s.Data["password"] == canary)
	}
	for i := range 20 {
		if _, err := c2.KVv2("secret").Get(ctx, fmt.Sprintf("pre/%d", i)); err != nil {
			t.Errorf("restored secret/pre/%d: %v", i, err)
		}
	}
	for w, k := range before {
		for i := range k {
			if _, err := c2.KVv2("secret").Get(ctx, fmt.Sprintf("during/%d/%d", w, i)); err != nil {
				t.Fatalf("write %d of writer %d, acknowledged before the backup, is missing: %v", i, w, err)
			}
		}
		if _, err := c2.KVv2("secret").Get(ctx, fmt.Sprintf("during/%d/%d", w, after[w]+1)); err == nil {
			t.Errorf("writer %d: a write begun after the backup finished is in it", w)
		}
	}

	// The canary is in no backup byte, audit entry or server log.
	logs, err := os.ReadFile(auditLog)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(logs, []byte("sys/storage/backup")) {
		t.Error("the backup request is not in the audit log")
	}
	for name, b := range map[string][]byte{"backup": raw, "audit log": logs, "server log": []byte(n.Logs.String() + n2.Logs.String())} {
		for _, form := range []string{canary, hex.EncodeToString([]byte(canary))} {
			if bytes.Contains(b, []byte(form)) {
				t.Errorf("the canary appears in the %s", name)
			}
		}
	}
}

func TestOperatorBackupRefusals(t *testing.T) {
	ctx := t.Context()
	t.Setenv("HOME", t.TempDir())
	bolt := nodetest.StartWith(t, nodetest.Options{Dir: filepath.Join(t.TempDir(), "data")})
	c := bolt.Client(t)
	if err := c.Sys().PutPolicyWithContext(ctx, "ops", `path "sys/storage/backup" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Auth().Token().CreateWithContext(ctx, &vault.TokenCreateRequest{Policies: []string{"ops"}})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "x.kwb")
	t.Setenv("KEYWARD_ADDR", bolt.URL)
	t.Setenv("KEYWARD_TOKEN", tok.Auth.ClientToken)
	if code, _, errOut := runCLI(t, "operator", "backup", out); code != 1 || !strings.Contains(errOut, "403") {
		t.Errorf("backup without sudo = %d, %s; want 403", code, errOut)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
		t.Errorf("a refused backup left %d files", len(ents))
	}

	mem := nodetest.Start(t)
	t.Setenv("KEYWARD_ADDR", mem.URL)
	t.Setenv("KEYWARD_TOKEN", mem.RootToken.Reveal())
	if code, _, errOut := runCLI(t, "operator", "backup", out); code != 1 || !strings.Contains(errOut, "400") || !strings.Contains(errOut, "bolt") {
		t.Errorf("backup of inmem storage = %d, %s; want a 400 naming bolt", code, errOut)
	}
}
