// Package hostinfo collects what sys/host-info reports about the machine a
// server runs on: CPUs, CPU times, disk usage, host and memory, in the JSON
// shape Vault's endpoint returns (the field names of gopsutil, which Vault
// uses). On Linux it reads /proc and statfs; elsewhere it reports what the
// standard library knows. It holds no secret and reads no file a server
// does not already have access to.
package hostinfo

import (
	"runtime"
	"time"
)

// Info is one collection. A part that could not be read is empty and its
// error is in Warnings; the rest is still reported.
type Info struct {
	Timestamp time.Time   `json:"timestamp"`
	CPU       []CPU       `json:"cpu"`
	CPUTimes  []CPUTimes  `json:"cpu_times"`
	Disk      []DiskUsage `json:"disk"`
	Host      *Host       `json:"host"`
	Memory    *Memory     `json:"memory"`
	// Warnings name the parts that failed (never in the JSON body).
	Warnings []string `json:"-"`
}

// CPU describes one logical processor.
type CPU struct {
	CPU        int32    `json:"cpu"`
	VendorID   string   `json:"vendorId"`
	Family     string   `json:"family"`
	Model      string   `json:"model"`
	Stepping   int32    `json:"stepping"`
	PhysicalID string   `json:"physicalId"`
	CoreID     string   `json:"coreId"`
	Cores      int32    `json:"cores"`
	ModelName  string   `json:"modelName"`
	Mhz        float64  `json:"mhz"`
	CacheSize  int32    `json:"cacheSize"`
	Flags      []string `json:"flags"`
	Microcode  string   `json:"microcode"`
}

// CPUTimes is the time one CPU ("cpu" for all of them) spent in each state,
// in seconds.
type CPUTimes struct {
	CPU       string  `json:"cpu"`
	User      float64 `json:"user"`
	System    float64 `json:"system"`
	Idle      float64 `json:"idle"`
	Nice      float64 `json:"nice"`
	Iowait    float64 `json:"iowait"`
	Irq       float64 `json:"irq"`
	Softirq   float64 `json:"softirq"`
	Steal     float64 `json:"steal"`
	Guest     float64 `json:"guest"`
	GuestNice float64 `json:"guestNice"`
}

// DiskUsage is the usage of one mounted file system.
type DiskUsage struct {
	Path              string  `json:"path"`
	Fstype            string  `json:"fstype"`
	Total             uint64  `json:"total"`
	Free              uint64  `json:"free"`
	Used              uint64  `json:"used"`
	UsedPercent       float64 `json:"usedPercent"`
	InodesTotal       uint64  `json:"inodesTotal"`
	InodesUsed        uint64  `json:"inodesUsed"`
	InodesFree        uint64  `json:"inodesFree"`
	InodesUsedPercent float64 `json:"inodesUsedPercent"`
}

// Host is general information about the machine.
type Host struct {
	Hostname             string `json:"hostname"`
	Uptime               uint64 `json:"uptime"`
	BootTime             uint64 `json:"bootTime"`
	Procs                uint64 `json:"procs"`
	OS                   string `json:"os"`
	Platform             string `json:"platform"`
	PlatformFamily       string `json:"platformFamily"`
	PlatformVersion      string `json:"platformVersion"`
	KernelVersion        string `json:"kernelVersion"`
	KernelArch           string `json:"kernelArch"`
	VirtualizationSystem string `json:"virtualizationSystem"`
	VirtualizationRole   string `json:"virtualizationRole"`
	HostID               string `json:"hostid"`
}

// Memory is the machine's memory, in bytes.
type Memory struct {
	Total       uint64  `json:"total"`
	Available   uint64  `json:"available"`
	Used        uint64  `json:"used"`
	UsedPercent float64 `json:"usedPercent"`
	Free        uint64  `json:"free"`
	Active      uint64  `json:"active"`
	Inactive    uint64  `json:"inactive"`
	Buffers     uint64  `json:"buffers"`
	Cached      uint64  `json:"cached"`
	Shared      uint64  `json:"shared"`
	Slab        uint64  `json:"slab"`
	SwapCached  uint64  `json:"swapCached"`
	SwapTotal   uint64  `json:"swapTotal"`
	SwapFree    uint64  `json:"swapFree"`
}

// Collect gathers the host's information now.
func Collect() *Info {
	info := &Info{Timestamp: time.Now().UTC(), CPU: []CPU{}, CPUTimes: []CPUTimes{}, Disk: []DiskUsage{}}
	collect(info)
	if info.Host == nil {
		info.Host = &Host{OS: runtime.GOOS, KernelArch: runtime.GOARCH}
	}
	return info
}

func percent(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole) * 100
}
