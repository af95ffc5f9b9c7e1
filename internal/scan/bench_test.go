package scan_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/scan"
	"github.com/keyward/keyward/internal/scan/corpus"
)

// cpuTime is the process's user+system time. Benchmarks report MB per
// CPU-second next to wall-clock MB/s because the shared machine they run on
// is often loaded, which stretches wall time but not CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration, bytes int64) {
	b.Helper()
	if d := cpuTime() - start; d > 0 {
		b.ReportMetric(float64(bytes*int64(b.N))/1e6/d.Seconds(), "MB/cpu-s")
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkScanTree scans a generated tree of Go-like sources with planted
// credentials. KEYWARD_BENCH_TREE_MB sets its size (default 8; docs/perf.md
// uses 300). KEYWARD_BENCH_TREE_DIR names a directory to generate into if
// empty, or to scan as it is (any tree, such as $GOROOT/src) if not.
func BenchmarkScanTree(b *testing.B) {
	mb := envInt("KEYWARD_BENCH_TREE_MB", 8)
	dir := os.Getenv("KEYWARD_BENCH_TREE_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	var planted int
	var err error
	if entries, _ := os.ReadDir(dir); len(entries) == 0 {
		if planted, err = corpus.WriteBenchTree(dir, int64(mb)<<20, 1); err != nil {
			b.Fatal(err)
		}
	} else {
		planted = -1 // reused: count unknown
	}
	s := newScanner(b, scan.Options{})
	b.ResetTimer()
	var res *scan.Result
	c0 := cpuTime()
	for b.Loop() {
		if res, err = s.ScanPaths(context.Background(), []string{dir}); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, c0, res.Bytes)
	b.SetBytes(res.Bytes)
	b.ReportMetric(float64(len(res.Findings)), "findings")
	if planted >= 0 && len(res.Findings) != planted {
		b.Errorf("found %d of %d planted", len(res.Findings), planted)
	}
}

// BenchmarkEngine measures the matcher alone on one core.
func BenchmarkEngine(b *testing.B) {
	dir := b.TempDir()
	if _, err := corpus.WriteBenchTree(dir, 4<<20, 2); err != nil {
		b.Fatal(err)
	}
	var data []byte
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			d, _ := os.ReadFile(p)
			data = append(data, d...)
		}
		return nil
	})
	s := newScanner(b, scan.Options{Workers: 1})
	b.SetBytes(int64(len(data)))
	c0 := cpuTime()
	defer func() { reportCPU(b, c0, int64(len(data))) }()
	for b.Loop() {
		if _, err := s.ScanReader(context.Background(), "bench", bytesReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGitHistory scans a fast-import generated history of
// KEYWARD_BENCH_COMMITS commits (default 300; docs use 5000).
func BenchmarkGitHistory(b *testing.B) {
	n := envInt("KEYWARD_BENCH_COMMITS", 300)
	dir := b.TempDir()
	planted, err := corpus.FastImportHistory(dir, n, 1)
	if err != nil {
		b.Fatal(err)
	}
	s := newScanner(b, scan.Options{})
	b.ResetTimer()
	var res *scan.Result
	for b.Loop() {
		if res, err = s.ScanGitHistory(context.Background(), dir, scan.GitOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "commits")
	b.SetBytes(res.Bytes)
	b.ReportMetric(float64(len(res.Findings)), "findings")
	if len(res.Findings) < planted {
		b.Errorf("found %d of %d planted", len(res.Findings), planted)
	}
}

// BenchmarkStaged measures a pre-commit scan of a typical commit: five
// changed files in a repository of a few hundred.
func BenchmarkStaged(b *testing.B) {
	dir := b.TempDir()
	if _, err := corpus.FastImportHistory(dir, 200, 3); err != nil {
		b.Fatal(err)
	}
	g := corpus.NewGen(9)
	for i := range 5 {
		p := filepath.Join(dir, "src", "pkg"+strconv.Itoa(i), "new.go")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("package pkg\n\n// "+g.S(2000, "abcdef \n")+"\n"), 0o644)
	}
	if _, err := corpus.Git(dir, "add", "-A"); err != nil {
		b.Fatal(err)
	}
	s := newScanner(b, scan.Options{})
	for b.Loop() {
		if _, err := s.ScanStaged(context.Background(), dir); err != nil {
			b.Fatal(err)
		}
	}
}
