package hostinfo

import (
	"encoding/json"
	"testing"
)

// The /proc parsers read the fields Vault reports, in its units: CPU times
// in seconds, memory in bytes.
func TestProcFixtures(t *testing.T) {
	old := procRoot
	procRoot = "testdata/proc"
	t.Cleanup(func() { procRoot = old })
	info := &Info{}
	collect(info)
	if len(info.CPU) != 2 || info.CPU[0].VendorID != "GenuineIntel" || info.CPU[0].Family != "6" || info.CPU[0].Model != "78" ||
		info.CPU[0].Stepping != 3 || info.CPU[0].CacheSize != 4096 || info.CPU[0].Mhz != 2500 || info.CPU[1].CoreID != "1" ||
		len(info.CPU[0].Flags) != 3 || info.CPU[0].Microcode != "0xc6" || info.CPU[0].Cores != 2 {
		t.Errorf("cpu = %+v", info.CPU)
	}
	if len(info.CPUTimes) != 2 || info.CPUTimes[0].CPU != "cpu" || info.CPUTimes[0].User != 74.91 || info.CPUTimes[0].Idle != 57262.76 ||
		info.CPUTimes[0].System != 168.33 || info.CPUTimes[1].CPU != "cpu0" {
		t.Errorf("cpu_times = %+v", info.CPUTimes)
	}
	m := info.Memory
	if m == nil || m.Total != 16384*1024 || m.Available != 8192*1024 || m.Used != (16384-4096-1024-2048)*1024 || m.UsedPercent <= 0 {
		t.Errorf("memory = %+v", m)
	}
	h := info.Host
	if h == nil || h.Uptime != 28618 || h.BootTime != 1570114491 || h.Procs != 1 || h.KernelVersion != "6.1.0-test" || h.OS != "linux" || h.Hostname == "" {
		t.Errorf("host = %+v", h)
	}
	// The fixture's root is an overlay (as in a container), listed once
	// though /dev/root is mounted there too; statfs reads "/" anywhere.
	if len(info.Disk) != 1 || info.Disk[0].Path != "/" || info.Disk[0].Fstype != "overlay" || info.Disk[0].Total == 0 {
		t.Errorf("disk = %+v", info.Disk)
	}
	if len(info.Warnings) != 0 {
		t.Errorf("warnings = %q", info.Warnings)
	}
}

// A part that cannot be read is reported as a warning, the rest still.
func TestMissingProc(t *testing.T) {
	old := procRoot
	procRoot = t.TempDir()
	t.Cleanup(func() { procRoot = old })
	info := Collect()
	if len(info.Warnings) == 0 || info.Host == nil || info.Host.Hostname == "" {
		t.Errorf("info = %+v", info)
	}
	raw, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(raw, &back); err != nil || back["cpu"] == nil || back["disk"] == nil {
		t.Errorf("JSON %s", raw)
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/a`: "/a", `/my\040disk`: "/my disk", `/x\`: `/x\`, `/t\011ab`: "/t\tab"} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// On this machine every part is collected.
func TestCollectHere(t *testing.T) {
	info := Collect()
	if len(info.CPU) == 0 || len(info.CPUTimes) == 0 || info.Memory == nil || info.Memory.Total == 0 || info.Host.Procs == 0 || len(info.Warnings) != 0 {
		t.Errorf("info = %+v", info)
	}
}
