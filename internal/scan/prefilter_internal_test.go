package scan

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveFind lists (end, keyword) pairs by brute force.
func naiveFind(data []byte, kws []string) [][2]int {
	low := bytes.ToLower(data)
	var out [][2]int
	for end := 1; end <= len(low); end++ {
		for k, kw := range kws {
			if end >= len(kw) && string(low[end-len(kw):end]) == kw {
				out = append(out, [2]int{end, k})
			}
		}
	}
	return out
}

func checkPrefilter(t *testing.T, data []byte, kws []string) {
	t.Helper()
	p := newPrefilter(kws)
	var got [][2]int
	last := 0
	p.find(data, func(end, kw int) {
		if end < last {
			t.Fatalf("hits out of order: %d after %d", end, last)
		}
		last = end
		got = append(got, [2]int{end, kw})
	})
	want := naiveFind(data, kws)
	cmp := func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	}
	slices.SortFunc(got, cmp)
	slices.SortFunc(want, cmp)
	if !slices.Equal(got, want) {
		t.Fatalf("prefilter found %d hits, brute force %d", len(got), len(want))
	}
}

func TestPrefilterStreams(t *testing.T) {
	kws := []string{"token", "ok", "secret", "sec", "aaaa", "ghp_", "k"}
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 10, 1000, 64 << 10, 200<<10 + 3} {
		data := make([]byte, size)
		for i := range data {
			data[i] = "tokensecrTOKENaghp_ \n"[r.IntN(21)]
		}
		checkPrefilter(t, data, kws)
	}
}

func FuzzPrefilter(f *testing.F) {
	f.Add([]byte("a token and a SECRET"), uint16(0))
	f.Add(bytes.Repeat([]byte("tokens "), 20000), uint16(7))
	f.Fuzz(func(t *testing.T, data []byte, pad uint16) {
		// pad past the size where find splits into streams
		if pad%2 == 1 {
			data = append(bytes.Repeat([]byte{'x'}, 64<<10), data...)
		}
		checkPrefilter(t, data, []string{"token", "ok", "secret", "sec", "aaaa", "ghp_", "k"})
	})
}

func TestEntropy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"", 0}, {"aaaa", 0}, {"ab", 1}, {"abcd", 2}, {"aabb", 1}, {"01234567", 3},
	} {
		if got := entropy(tc.in); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("entropy(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
