package node_test

import (
	"runtime"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// sys/host-info answers in Vault's shape: cpu, cpu_times, disk, host,
// memory and timestamp.
func TestHostInfo(t *testing.T) {
	n := nodetest.Start(t)
	sec, err := n.Client(t).Logical().Read("sys/host-info")
	if err != nil || sec == nil {
		t.Fatalf("read sys/host-info: %v %v", sec, err)
	}
	d := sec.Data
	for _, k := range []string{"cpu", "cpu_times", "disk", "host", "memory", "timestamp"} {
		if _, ok := d[k]; !ok {
			t.Errorf("sys/host-info lacks %q: %v", k, d)
		}
	}
	host, _ := d["host"].(map[string]any)
	if host["os"] != runtime.GOOS || host["hostname"] == "" {
		t.Errorf("host = %v", host)
	}
	if runtime.GOOS == "linux" {
		cpus, _ := d["cpu"].([]any)
		mem, _ := d["memory"].(map[string]any)
		disks, _ := d["disk"].([]any)
		if len(cpus) == 0 || mem["total"] == nil || len(disks) == 0 || len(sec.Warnings) != 0 {
			t.Errorf("cpu %v, memory %v, disk %v, warnings %q", cpus, mem, disks, sec.Warnings)
		}
	}
}

// sys/config/state/sanitized reports the running configuration (sudo, as
// every sys/config/ path).
func TestConfigStateSanitized(t *testing.T) {
	n := nodetest.Start(t)
	c := n.Client(t)
	sec, err := c.Logical().Read("sys/config/state/sanitized")
	if err != nil || sec == nil {
		t.Fatalf("read: %v %v", sec, err)
	}
	ls, _ := sec.Data["listeners"].([]any)
	st, _ := sec.Data["storage"].(map[string]any)
	if len(ls) != 1 || st["type"] != "inmem" || sec.Data["cluster_name"] != "keyward" {
		t.Errorf("sanitized = %v", sec.Data)
	}
	if err := c.Sys().PutPolicy("reader", `path "sys/config/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodetest.VaultClient(t, n.URL, tok.Auth.ClientToken).Logical().Read("sys/config/state/sanitized"); err == nil {
		t.Error("read without sudo was served")
	}
}
