package scan

// prefilter is an Aho-Corasick automaton compiled to a DFA over
// case-folded byte classes. One pass over the input reports every position
// where a keyword ends, so rule expressions only run near candidates.
type prefilter struct {
	class    [256]uint8 // byte -> class; 0 is "not in any keyword"
	nclass   int
	trans    []uint16 // state*nclass + class -> next state
	fast     []uint32 // the same, pre-multiplied: next*nclass | terminal<<31
	out      [][]int  // state -> keyword indexes ending here (suffix outputs merged)
	terminal []bool
	lens     []int // keyword lengths
	maxLen   int
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// newPrefilter compiles keywords (matched ASCII case-insensitively).
func newPrefilter(keywords []string) *prefilter {
	p := &prefilter{}
	// byte classes: each distinct folded byte used in a keyword gets a class.
	next := uint8(1)
	for _, k := range keywords {
		for i := 0; i < len(k); i++ {
			c := lower(k[i])
			if p.class[c] == 0 {
				p.class[c] = next
				next++
			}
		}
	}
	for b := 'A'; b <= 'Z'; b++ {
		p.class[b] = p.class[b+'a'-'A']
	}
	p.nclass = int(next)
	// trie
	type node struct {
		child map[uint8]int
		fail  int
		out   []int
	}
	nodes := []node{{child: map[uint8]int{}}}
	for ki, k := range keywords {
		s := 0
		for i := 0; i < len(k); i++ {
			c := p.class[lower(k[i])]
			n, ok := nodes[s].child[c]
			if !ok {
				nodes = append(nodes, node{child: map[uint8]int{}})
				n = len(nodes) - 1
				nodes[s].child[c] = n
			}
			s = n
		}
		nodes[s].out = append(nodes[s].out, ki)
		p.lens = append(p.lens, len(k))
		p.maxLen = max(p.maxLen, len(k))
	}
	if len(nodes) > 65535 {
		panic("scan: too many keyword states")
	}
	p.trans = make([]uint16, len(nodes)*p.nclass)
	p.out = make([][]int, len(nodes))
	p.terminal = make([]bool, len(nodes))
	// BFS to build failure links and the full transition table.
	queue := []int{}
	for c := 1; c < p.nclass; c++ {
		if n, ok := nodes[0].child[uint8(c)]; ok {
			nodes[n].fail = 0
			p.trans[c] = uint16(n)
			queue = append(queue, n)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		nodes[s].out = append(nodes[s].out, nodes[nodes[s].fail].out...)
		for c := 1; c < p.nclass; c++ {
			if n, ok := nodes[s].child[uint8(c)]; ok {
				nodes[n].fail = int(p.trans[nodes[s].fail*p.nclass+c])
				p.trans[s*p.nclass+c] = uint16(n)
				queue = append(queue, n)
			} else {
				p.trans[s*p.nclass+c] = p.trans[nodes[s].fail*p.nclass+c]
			}
		}
	}
	for i := range nodes {
		p.out[i] = nodes[i].out
		p.terminal[i] = len(nodes[i].out) > 0
	}
	p.fast = make([]uint32, len(p.trans))
	for i, t := range p.trans {
		v := uint32(t) * uint32(p.nclass)
		if p.terminal[t] {
			v |= 1 << 31
		}
		p.fast[i] = v
	}
	return p
}

// find calls hit(end, keyword) for every keyword occurrence in data, in
// order of end; end is the index just past the keyword's last byte.
//
// The input is cut into blocks and four neighbouring blocks are scanned in
// one interleaved loop, so the CPU overlaps their table lookups (each
// block's scan is a chain of dependent loads). A block starts maxLen-1
// bytes early in state 0 and keeps only occurrences ending inside it, so
// none is lost or doubled; hits of blocks 2-4 wait in small buffers.
// pend, if not nil, holds reusable buffers for the waiting hits.
func (p *prefilter) find(data []byte, pend *[4][]int, hit func(end, kw int)) {
	const streams = 4
	block := min(4<<10, len(data)/streams)
	if block < 256 {
		p.findRange(data, 0, 0, len(data), hit)
		return
	}
	fast, class, nc := p.fast, &p.class, uint32(p.nclass)
	back := p.maxLen - 1
	if pend == nil {
		pend = new([4][]int)
	}
	pending := pend
	for base := 0; base < len(data); base += streams * block {
		if len(data)-base < streams*block {
			p.findRange(data, max(0, base-back), base, len(data), hit)
			return
		}
		// block k covers [from[k], from[k]+block) and starts at from[k]-back
		var from, pos [streams]int
		for k := range streams {
			from[k] = base + k*block
			pos[k] = max(0, from[k]-back)
		}
		n := from[0] + block - pos[0] // the longest run; shorter ones finish below
		for k := 1; k < streams; k++ {
			n = min(n, from[k]+block-pos[k])
		}
		var s0, s1, s2, s3 uint32
		p0, p1, p2, p3 := pos[0], pos[1], pos[2], pos[3]
		for i := 0; i < n; i++ {
			t0 := fast[s0+uint32(class[data[p0+i]])]
			t1 := fast[s1+uint32(class[data[p1+i]])]
			t2 := fast[s2+uint32(class[data[p2+i]])]
			t3 := fast[s3+uint32(class[data[p3+i]])]
			s0, s1, s2, s3 = t0&^(1<<31), t1&^(1<<31), t2&^(1<<31), t3&^(1<<31)
			if (t0|t1|t2|t3)>>31 != 0 {
				if t0>>31 != 0 {
					pending[0] = p.collect(pending[0], s0/nc, p0+i+1, from[0])
				}
				if t1>>31 != 0 {
					pending[1] = p.collect(pending[1], s1/nc, p1+i+1, from[1])
				}
				if t2>>31 != 0 {
					pending[2] = p.collect(pending[2], s2/nc, p2+i+1, from[2])
				}
				if t3>>31 != 0 {
					pending[3] = p.collect(pending[3], s3/nc, p3+i+1, from[3])
				}
			}
		}
		st := [streams]uint32{s0, s1, s2, s3}
		for k := range streams {
			s := st[k]
			for i := pos[k] + n; i < from[k]+block; i++ {
				t := fast[s+uint32(class[data[i]])]
				s = t &^ (1 << 31)
				if t>>31 != 0 {
					pending[k] = p.collect(pending[k], s/nc, i+1, from[k])
				}
			}
			for j := 0; j < len(pending[k]); j += 2 {
				hit(pending[k][j], pending[k][j+1])
			}
			pending[k] = pending[k][:0]
		}
	}
}

// collect appends (end, keyword) pairs of state s, keeping only
// occurrences that end past from.
func (p *prefilter) collect(dst []int, s uint32, end, from int) []int {
	if end <= from {
		return dst
	}
	for _, kw := range p.out[s] {
		dst = append(dst, end, kw)
	}
	return dst
}

// findRange scans data[start:to] from state 0 and reports occurrences
// ending after from.
func (p *prefilter) findRange(data []byte, start, from, to int, hit func(end, kw int)) {
	fast, class, nc := p.fast, &p.class, uint32(p.nclass)
	var s uint32
	for i := start; i < to; i++ {
		t := fast[s+uint32(class[data[i]])]
		s = t &^ (1 << 31)
		if t>>31 != 0 && i+1 > from {
			for _, k := range p.out[s/nc] {
				hit(i+1, k)
			}
		}
	}
}
