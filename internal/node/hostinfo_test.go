package node_test

import (
	"runtime"
	"testing"

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
