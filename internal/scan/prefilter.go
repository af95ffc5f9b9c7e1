package scan

// prefilter is an Aho-Corasick automaton compiled to a DFA over
// case-folded byte classes. One pass over the input reports every position
// where a keyword ends, so rule expressions only run near candidates.
type prefilter struct {
	class    [256]uint8 // byte -> class; 0 is "not in any keyword"
	nclass   int
	trans    []uint16 // state*nclass + class -> next state
	out      [][]int  // state -> keyword indexes ending here (suffix outputs merged)
	terminal []bool
	lens     []int // keyword lengths
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
	return p
}

// find calls hit(end, keyword) for every keyword occurrence in data; end is
// the index just past the keyword's last byte.
func (p *prefilter) find(data []byte, hit func(end, kw int)) {
	trans, class, term, nc := p.trans, &p.class, p.terminal, p.nclass
	s := 0
	for i := 0; i < len(data); i++ {
		s = int(trans[s*nc+int(class[data[i]])])
		if term[s] {
			for _, k := range p.out[s] {
				hit(i+1, k)
			}
		}
	}
}
