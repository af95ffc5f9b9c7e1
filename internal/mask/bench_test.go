package mask_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/mask"
)

const secretAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+/=.:@!$%"

// randomSecrets returns n values of 20–64 bytes.
func randomSecrets(r *rand.Rand, n int) []mask.Secret {
	s := make([]mask.Secret, n)
	for i := range s {
		b := make([]byte, 20+r.IntN(45))
		for j := range b {
			b[j] = secretAlphabet[r.IntN(len(secretAlphabet))]
		}
		s[i] = mask.Secret{Name: fmt.Sprintf("S%d", i), Value: string(b)}
	}
	return s
}

// logStream returns about size bytes of build-log-like text with a few of the
// secrets in it.
func logStream(r *rand.Rand, size int, secrets []mask.Secret) []byte {
	words := []string{"INFO", "DEBUG", "compiling", "package", "github.com/keyward/keyward/internal/mask",
		"ok", "PASS", "--- RUN", "TestWriter", "downloading", "layer", "sha256:", "done", "in", "ms", "error:",
		"warning:", "[1/42]", "Step", "RUN", "go", "build", "./...", "=>", "http://example.com/path?q=1"}
	var b bytes.Buffer
	for b.Len() < size {
		fmt.Fprintf(&b, "2026-11-22T04:%02d:%02d.%03dZ ", r.IntN(60), r.IntN(60), r.IntN(1000))
		for range 4 + r.IntN(10) {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		if r.IntN(4) == 0 {
			fmt.Fprintf(&b, "%016x%016x ", r.Uint64(), r.Uint64())
		}
		if len(secrets) > 0 && r.IntN(500) == 0 {
			b.WriteString(secrets[r.IntN(len(secrets))].Value)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func BenchmarkWriter(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("values=%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, uint64(n)))
			secrets := randomSecrets(r, n)
			stream := logStream(r, 4<<20, secrets)
			w := mask.NewWriter(io.Discard, secrets, mask.Options{FlushDelay: -1})
			b.SetBytes(int64(len(stream)))
			b.ResetTimer()
			cpu := cpuTime()
			for range b.N {
				for p := stream; len(p) > 0; p = p[min(32<<10, len(p)):] {
					w.Write(p[:min(32<<10, len(p))])
				}
			}
			reportCPU(b, cpu, len(stream))
		})
	}
}

// BenchmarkWriterShortForm adds one 12-byte value to 100: a form shorter
// than 16 bytes makes the scan check every position instead of sampling.
func BenchmarkWriterShortForm(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 100))
	secrets := append(randomSecrets(r, 100), mask.Secret{Name: "PIN", Value: "12-byte-pin!"})
	stream := logStream(r, 4<<20, secrets)
	w := mask.NewWriter(io.Discard, secrets, mask.Options{FlushDelay: -1})
	b.SetBytes(int64(len(stream)))
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		for p := stream; len(p) > 0; p = p[min(32<<10, len(p)):] {
			w.Write(p[:min(32<<10, len(p))])
		}
	}
	reportCPU(b, cpu, len(stream))
}

func BenchmarkNewWriter(b *testing.B) {
	secrets := randomSecrets(rand.New(rand.NewPCG(1, 1000)), 1000)
	for range b.N {
		mask.NewWriter(io.Discard, secrets, mask.Options{})
	}
}

// BenchmarkIOCopy is the baseline: the same stream through io.Copy's 32 KiB
// buffer with no masking.
func BenchmarkIOCopy(b *testing.B) {
	stream := logStream(rand.New(rand.NewPCG(1, 0)), 4<<20, nil)
	b.SetBytes(int64(len(stream)))
	cpu := cpuTime()
	for range b.N {
		io.Copy(io.Discard, struct{ io.Reader }{bytes.NewReader(stream)})
	}
	reportCPU(b, cpu, len(stream))
}

// cpuTime returns the CPU time the process has used. On a shared, loaded
// machine MB/s by wall clock mostly measures the neighbours; MB per CPU
// second measures the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration, size int) {
	if d := cpuTime() - start; d > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/1e6/d.Seconds(), "MB/cpu-s")
	}
}
