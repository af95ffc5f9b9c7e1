package node_test

import (
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/node"
	"github.com/keyward/keyward/internal/node/nodetest"
)

// enableFileAudit enables a file audit device named "file" writing to path.
func enableFileAudit(t *testing.T, c *vault.Client, path string) {
	t.Helper()
	if err := c.Sys().EnableAuditWithOptions("file", &vault.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": path}}); err != nil {
		t.Fatalf("enable file audit at %s: %v", path, err)
	}
}

func auditConfig(storagePath, auditDir, file string) *config.Config {
	cfg := config.Default()
	cfg.Listeners = []config.Listener{{Type: "tcp", Address: "127.0.0.1:0", TLSDisable: true}}
	cfg.Storage = config.Storage{Type: "bolt", Path: storagePath}
	cfg.Audit.Dir = auditDir
	cfg.File = file
	return cfg
}

// The audit directory defaults to "audit" inside the storage path, created
// 0700 by the first file device; a configured directory that is a system directory, the storage
// path or holds it, or holds the configuration file stops the server
// before it creates anything.
func TestAuditDirectory(t *testing.T) {
	data := t.TempDir()
	n, err := node.New(auditConfig(data, "", ""), nil)
	if err != nil {
		t.Fatalf("node.New with the default audit directory: %v", err)
	}
	n.Close()
	if _, err := os.Lstat(filepath.Join(data, "audit")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unused default audit directory exists: %v", err)
	}
	n2 := nodetest.StartWith(t, nodetest.Options{Dir: data})
	p := filepath.Join(data, "audit", "audit.log")
	enableFileAudit(t, n2.Client(t), p) // in the default audit directory
	if fi, err := os.Lstat(filepath.Dir(p)); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("default audit directory = %v, %v; want a 0700 directory", fi, err)
	}
	n2.Close()

	confDir := t.TempDir()
	conf := filepath.Join(confDir, "keyward.hcl")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, dir string }{
		{"system directory", "/etc/keyward-audit-test"},
		{"cron", "/var/spool/cron/keyward-audit-test"},
		{"holds the storage path", filepath.Dir(data)},
		{"holds the configuration", confDir},
		{"relative", "audit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := node.New(auditConfig(t.TempDir(), tt.dir, conf), nil)
			if err == nil || !strings.Contains(err.Error(), "audit") {
				t.Fatalf("node.New with audit dir %s = %v, want an audit error", tt.dir, err)
			}
			if filepath.IsAbs(tt.dir) && strings.HasSuffix(tt.dir, "-test") {
				if _, err := os.Stat(tt.dir); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("refused audit dir %s was created: %v", tt.dir, err)
				}
			}
		})
	}
}

// A device stored while another audit directory was configured does not
// stop the server: it unseals, lists the device, logs why it records
// nothing, and refuses requests (fail closed) until the configuration
// names the directory again.
func TestStoredAuditDeviceOutsideTheDirectory(t *testing.T) {
	dir, oldAudit := t.TempDir(), t.TempDir()
	n := nodetest.StartWith(t, nodetest.Options{Dir: dir, AuditDir: oldAudit})
	root := n.RootToken.Reveal()
	vc := nodetest.VaultClient(t, n.URL, root)
	p := filepath.Join(oldAudit, "audit.log")
	enableFileAudit(t, vc, p)
	shares := n.Shares
	n.Close()
	before, _ := os.ReadFile(p)

	n2 := nodetest.StartWith(t, nodetest.Options{Dir: dir, Reopen: shares, AuditDir: t.TempDir()})
	if !bytes.Contains(n2.Logs.Bytes(), []byte("refused by server policy")) || !bytes.Contains(n2.Logs.Bytes(), []byte("audit directory")) {
		t.Errorf("server log does not explain the refused device:\n%s", n2.Logs.Bytes())
	}
	if status, _ := do(t, "GET", n2.URL+"/v1/secret/data/a", root, nil); status != http.StatusInternalServerError {
		t.Errorf("read with only a refused device = %d, want 500", status)
	}
	n2.Close()
	if after, _ := os.ReadFile(p); !bytes.Equal(after, before) {
		t.Error("the refused device wrote to its old file")
	}

	n3 := nodetest.StartWith(t, nodetest.Options{Dir: dir, Reopen: shares, AuditDir: oldAudit})
	if status, body := do(t, "GET", n3.URL+"/v1/sys/audit", root, nil); status != http.StatusOK || !bytes.Contains(body, []byte(`"file/"`)) {
		t.Errorf("sys/audit with the directory configured again = %d %s", status, body)
	}
}
