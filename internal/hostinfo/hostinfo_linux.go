package hostinfo

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// userHZ is the unit of /proc/stat's CPU times: 100 on every Linux ABI Go
// supports.
const userHZ = 100

// procRoot is where proc is read from (tests point it at fixtures).
var procRoot = "/proc"

func collect(info *Info) {
	warn := func(part string, err error) {
		info.Warnings = append(info.Warnings, fmt.Sprintf("%s: %v", part, err))
	}
	if c, err := cpus(); err != nil {
		warn("cpu", err)
	} else {
		info.CPU = c
	}
	if t, err := cpuTimes(); err != nil {
		warn("cpu_times", err)
	} else {
		info.CPUTimes = t
	}
	if d, err := disks(); err != nil {
		warn("disk", err)
	} else {
		info.Disk = d
	}
	if h, err := host(); err != nil {
		warn("host", err)
	} else {
		info.Host = h
	}
	if m, err := memory(); err != nil {
		warn("memory", err)
	} else {
		info.Memory = m
	}
}

func readProc(name string) ([]byte, error) { return os.ReadFile(filepath.Join(procRoot, name)) }

// cpus parses /proc/cpuinfo: one block per logical processor.
func cpus() ([]CPU, error) {
	raw, err := readProc("cpuinfo")
	if err != nil {
		return nil, err
	}
	var out []CPU
	var cur *CPU
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "processor" {
			n, _ := strconv.ParseInt(v, 10, 32)
			out = append(out, CPU{CPU: int32(n), Flags: []string{}})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			continue
		}
		switch k {
		case "vendor_id":
			cur.VendorID = v
		case "cpu family":
			cur.Family = v
		case "model":
			cur.Model = v
		case "model name":
			cur.ModelName = v
		case "stepping":
			n, _ := strconv.ParseInt(v, 10, 32)
			cur.Stepping = int32(n)
		case "physical id":
			cur.PhysicalID = v
		case "core id":
			cur.CoreID = v
		case "cpu cores":
			n, _ := strconv.ParseInt(v, 10, 32)
			cur.Cores = int32(n)
		case "cpu MHz":
			cur.Mhz, _ = strconv.ParseFloat(v, 64)
		case "cache size":
			n, _ := strconv.ParseInt(strings.TrimSuffix(v, " KB"), 10, 32)
			cur.CacheSize = int32(n)
		case "flags", "Features":
			cur.Flags = strings.Fields(v)
		case "microcode":
			cur.Microcode = v
		}
	}
	return out, sc.Err()
}

// cpuTimes parses the cpu lines of /proc/stat.
func cpuTimes() ([]CPUTimes, error) {
	raw, err := readProc("stat")
	if err != nil {
		return nil, err
	}
	var out []CPUTimes
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		v := make([]float64, 10)
		for i := 1; i < len(f) && i <= 10; i++ {
			n, _ := strconv.ParseUint(f[i], 10, 64)
			v[i-1] = float64(n) / userHZ
		}
		out = append(out, CPUTimes{CPU: f[0], User: v[0], Nice: v[1], System: v[2], Idle: v[3], Iowait: v[4],
			Irq: v[5], Softirq: v[6], Steal: v[7], Guest: v[8], GuestNice: v[9]})
	}
	return out, nil
}

// disks reports the usage of every file system mounted from a device, and
// of the root file system whatever it is (an overlay in a container).
func disks() ([]DiskUsage, error) {
	raw, err := readProc("self/mounts")
	if err != nil {
		return nil, err
	}
	out := []DiskUsage{}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || (!strings.HasPrefix(f[0], "/") && f[1] != "/") || seen[f[1]] {
			continue
		}
		path := unescapeMount(f[1])
		seen[f[1]] = true
		var st syscall.Statfs_t
		if err := syscall.Statfs(path, &st); err != nil {
			continue // not accessible to this process
		}
		bs := uint64(st.Bsize)
		total, free, avail := st.Blocks*bs, st.Bfree*bs, st.Bavail*bs
		used := total - free
		d := DiskUsage{Path: path, Fstype: f[2], Total: total, Free: avail, Used: used,
			InodesTotal: st.Files, InodesFree: st.Ffree, InodesUsed: st.Files - st.Ffree}
		// As df: used over what a user could have (used + available).
		d.UsedPercent = percent(used, used+avail)
		d.InodesUsedPercent = percent(d.InodesUsed, d.InodesTotal)
		out = append(out, d)
	}
	return out, nil
}

// unescapeMount decodes the octal escapes (\040 for a space) of a mount
// point in /proc/self/mounts.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func host() (*Host, error) {
	h := &Host{OS: runtime.GOOS, KernelArch: kernelArch()}
	var err error
	if h.Hostname, err = os.Hostname(); err != nil {
		return nil, err
	}
	if raw, err := readProc("uptime"); err == nil {
		if f := strings.Fields(string(raw)); len(f) > 0 {
			up, _ := strconv.ParseFloat(f[0], 64)
			h.Uptime = uint64(up)
		}
	}
	if raw, err := readProc("stat"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "btime "); ok {
				h.BootTime, _ = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			}
		}
	}
	if ents, err := os.ReadDir(procRoot); err == nil {
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() {
				h.Procs++
			}
		}
	}
	if raw, err := readProc("sys/kernel/osrelease"); err == nil {
		h.KernelVersion = strings.TrimSpace(string(raw))
	}
	if raw, err := readProc("sys/kernel/random/boot_id"); err == nil {
		h.HostID = strings.TrimSpace(string(raw))
	}
	if raw, err := os.ReadFile("/etc/os-release"); err == nil {
		rel := osRelease(string(raw))
		h.Platform, h.PlatformVersion = rel["ID"], rel["VERSION_ID"]
		h.PlatformFamily = rel["ID_LIKE"]
		if h.PlatformFamily == "" {
			h.PlatformFamily = h.Platform
		}
		h.PlatformFamily, _, _ = strings.Cut(h.PlatformFamily, " ")
	}
	return h, nil
}

func kernelArch() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return runtime.GOARCH
	}
	var b strings.Builder
	for _, c := range u.Machine {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

// osRelease parses /etc/os-release (KEY=value, values maybe quoted).
func osRelease(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `'"`)
		}
		out[k] = v
	}
	return out
}

// memory parses /proc/meminfo (values in kB).
func memory() (*Memory, error) {
	raw, err := readProc("meminfo")
	if err != nil {
		return nil, err
	}
	kv := map[string]uint64{}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		kv[k] = n
	}
	m := &Memory{
		Total: kv["MemTotal"], Free: kv["MemFree"], Available: kv["MemAvailable"],
		Active: kv["Active"], Inactive: kv["Inactive"], Buffers: kv["Buffers"],
		Cached: kv["Cached"] + kv["SReclaimable"], Shared: kv["Shmem"], Slab: kv["Slab"],
		SwapCached: kv["SwapCached"], SwapTotal: kv["SwapTotal"], SwapFree: kv["SwapFree"],
	}
	if m.Total == 0 {
		return nil, fmt.Errorf("no MemTotal in meminfo")
	}
	if _, ok := kv["MemAvailable"]; !ok {
		m.Available = m.Free + m.Buffers + m.Cached
	}
	if used := m.Free + m.Buffers + m.Cached; used <= m.Total {
		m.Used = m.Total - used
	}
	m.UsedPercent = percent(m.Used, m.Total)
	return m, nil
}
