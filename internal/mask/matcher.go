package mask

import (
	"encoding/binary"
	"slices"
	"strings"
)

// matcher finds, at a given position, the longest pattern starting there.
// Patterns are kept sorted, so the patterns sharing a prefix form one
// contiguous range that narrows byte by byte (a trie flattened into an
// array). Two bitsets keep the scan fast with tens of thousands of patterns:
//
//   - start: a hash of each pattern's first k bytes. A position whose k bytes
//     miss it starts no pattern.
//   - grams: a hash of the 8-byte grams at offsets 0..sampleStep-1 of each
//     pattern at least sampleMin bytes long. Any occurrence of such a
//     pattern covers one of every sampleStep consecutive positions with one
//     of those grams, so the scan looks at one position in sampleStep and
//     checks the sampleStep candidate starts behind a hit.
//   - short: the first two bytes of each pattern shorter than sampleMin (PEM
//     lines, JSON fields, short values), as a 65,536-bit table. If there are
//     any, every position is checked against it, which makes the scan a few
//     times slower.
type matcher struct {
	pats   []string // sorted, unique
	names  []string // names[i] is the secret pats[i] came from
	first  [257]int32
	k      int // start window: min(8, shortest pattern)
	kmask  uint64
	shift  uint
	start  []uint64
	sample bool // some patterns are long enough to sample for
	gshift uint
	grams  []uint64
	short  []uint64 // nil if no pattern is shorter than sampleMin
	maxLen int
}

const (
	hashMul    = 0x9E3779B97F4A7C15
	sampleMin  = 16
	sampleStep = sampleMin - 8 + 1
)

func newBitset(entries, perEntry int) ([]uint64, uint) {
	nbits := 1 << 12
	for nbits < entries*perEntry && nbits < 1<<25 {
		nbits <<= 1
	}
	shift := uint(64)
	for n := nbits; n > 1; n >>= 1 {
		shift--
	}
	return make([]uint64, nbits/64), shift
}

func setBit(bits []uint64, h uint64) { bits[h>>6] |= 1 << (h & 63) }

func newMatcher(ps []pattern) *matcher {
	if len(ps) == 0 {
		return nil
	}
	slices.SortFunc(ps, func(a, b pattern) int { return strings.Compare(a.s, b.s) })
	m := &matcher{k: 8}
	shortest := len(ps[0].s)
	for _, p := range ps {
		m.pats = append(m.pats, p.s)
		m.names = append(m.names, p.name)
		shortest = min(shortest, len(p.s))
		m.maxLen = max(m.maxLen, len(p.s))
	}
	m.k = min(8, shortest)
	m.kmask = ^uint64(0)
	if m.k < 8 {
		m.kmask = 1<<(8*m.k) - 1
	}
	m.start, m.shift = newBitset(len(m.pats), 32)
	for _, p := range m.pats {
		setBit(m.start, hash(load(p[:m.k]), m.kmask, m.shift))
	}
	long := 0
	for _, p := range m.pats {
		if len(p) >= sampleMin {
			long++
		}
	}
	if m.sample = long > 0; m.sample {
		// A blocked filter: two bits of one word per gram, 8 bits per gram,
		// so it stays small enough for the cache with 1,000 secrets.
		m.grams, m.gshift = newBitset(long*sampleStep, 8)
		m.gshift += 6 // index words, not bits
	}
	if long < len(m.pats) {
		m.short = make([]uint64, 1<<16/64)
	}
	for _, p := range m.pats {
		if len(p) < sampleMin {
			if len(p) > 1 {
				setBit(m.short, uint64(p[0])|uint64(p[1])<<8)
				continue
			}
			for c := range 256 { // a 1-byte pattern starts every pair
				setBit(m.short, uint64(p[0])|uint64(c)<<8)
			}
			continue
		}
		for off := range sampleStep {
			i, bits := gramBits(load(p[off:off+8]), m.gshift)
			m.grams[i] |= bits
		}
	}
	for _, p := range m.pats {
		m.first[int(p[0])+1]++
	}
	for c := 1; c <= 256; c++ {
		m.first[c] += m.first[c-1]
	}
	return m
}

func load[T string | []byte](b T) uint64 {
	var x uint64
	for i := len(b) - 1; i >= 0; i-- {
		x = x<<8 | uint64(b[i])
	}
	return x
}

func hash(x, mask uint64, shift uint) uint64 { return (x & mask) * hashMul >> shift }

func has(bits []uint64, h uint64) bool { return bits[h>>6]&(1<<(h&63)) != 0 }

// gramBits returns the word of the grams filter for gram x and the two bits
// set in it.
func gramBits(x uint64, shift uint) (uint64, uint64) {
	h := x * hashMul
	return h >> shift, 1<<(h&63) | 1<<(h>>6&63)
}

// narrow returns the subrange of [lo,hi) whose patterns have byte c at
// index d. All patterns in [lo,hi) are longer than d.
func (m *matcher) narrow(lo, hi, d int, c byte) (int, int) {
	l, h := lo, hi
	for l < h {
		mid := int(uint(l+h) >> 1)
		if m.pats[mid][d] < c {
			l = mid + 1
		} else {
			h = mid
		}
	}
	lo = l
	h = hi
	for l < h {
		mid := int(uint(l+h) >> 1)
		if m.pats[mid][d] <= c {
			l = mid + 1
		} else {
			h = mid
		}
	}
	return lo, l
}

// walk returns the length and index of the longest pattern that is a prefix
// of b (n == 0 if none), and whether b is a proper prefix of a longer pattern
// (so more input could still complete a match at this position).
func (m *matcher) walk(b []byte) (n, idx int, partial bool) {
	if len(b) == 0 {
		return 0, -1, true
	}
	lo, hi := int(m.first[b[0]]), int(m.first[int(b[0])+1])
	if lo == hi {
		return 0, -1, false
	}
	idx = -1
	for d := 1; ; d++ {
		if len(m.pats[lo]) == d { // the shortest in a sorted range comes first
			n, idx = d, lo
			if lo++; lo == hi {
				return n, idx, false
			}
		}
		if d == len(b) {
			return n, idx, true
		}
		if hi-lo == 1 {
			rest := m.pats[lo][d:]
			if tail := b[d:]; len(tail) >= len(rest) {
				if string(tail[:len(rest)]) == rest {
					return len(m.pats[lo]), lo, false
				}
				return n, idx, false
			} else {
				return n, idx, string(tail) == rest[:len(tail)]
			}
		}
		if lo, hi = m.narrow(lo, hi, d, b[d]); lo == hi {
			return n, idx, false
		}
	}
}

// prefixRange returns the range of patterns that have b as a prefix.
func (m *matcher) prefixRange(b []byte) (lo, hi int) {
	lo, hi = 0, len(m.pats)
	for d := 0; d < len(b) && lo < hi; d++ {
		for lo < hi && len(m.pats[lo]) == d {
			lo++
		}
		lo, hi = m.narrow(lo, hi, d, b[d])
	}
	return lo, hi
}

// scan looks for matches in b starting at offsets [from, len(b)). It calls
// found for each complete match (longest at its start), in order of start.
// Unless final, it stops at the first offset where b's tail is a proper
// prefix of a pattern and returns that offset; otherwise it returns len(b).
func (m *matcher) scan(b []byte, from int, final bool, found func(start, n, idx int)) int {
	// Up to tail, every pattern starting at a position fits in b, so no
	// position there can be a partial match.
	tail := max(from, len(b)-m.maxLen+1)
	if m.sample {
		grams, gshift := m.grams, m.gshift
		// A long pattern starting at p < tail ends by len(b) and has a gram
		// at one of p..p+sampleStep-1; sample positions from+j*sampleStep.
		i := from
		for ; i < tail; i += sampleStep {
			if w, bits := gramBits(binary.LittleEndian.Uint64(b[i:]), gshift); grams[w]&bits != bits {
				continue
			}
			for p := max(from, i-sampleStep+1); p <= i; p++ {
				m.check(b, p, found)
			}
		}
		// Starts in (last sample, tail) belong to samples not taken.
		for p := max(from, i-sampleStep+1); p < tail; p++ {
			m.check(b, p, found)
		}
	}
	if m.short != nil {
		short := m.short
		i := from
		for ; i < tail && i+1 < len(b); i++ {
			if has(short, uint64(b[i])|uint64(b[i+1])<<8) {
				m.check(b, i, found)
			}
		}
		for ; i < tail; i++ {
			m.check(b, i, found)
		}
	}
	start, kmask, shift := m.start, m.kmask, m.shift
	i := tail
	for ; i < len(b); i++ {
		if len(b)-i >= m.k && !has(start, hash(load(b[i:i+m.k]), kmask, shift)) {
			continue
		}
		n, idx, partial := m.walk(b[i:])
		if partial && !final {
			return i
		}
		if n > 0 {
			found(i, n, idx)
		}
	}
	return len(b)
}

// check reports the longest match at p, which is known to end within b.
func (m *matcher) check(b []byte, p int, found func(start, n, idx int)) {
	var x uint64
	if p+8 <= len(b) {
		x = binary.LittleEndian.Uint64(b[p:])
	} else if p+m.k <= len(b) {
		x = load(b[p : p+m.k])
	}
	if p+m.k <= len(b) && !has(m.start, hash(x, m.kmask, m.shift)) {
		return
	}
	if n, idx, _ := m.walk(b[p:]); n > 0 {
		found(p, n, idx)
	}
}
