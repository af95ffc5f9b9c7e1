package policy

import "strings"

// rnode is a node of a compressed byte trie (radix tree) keyed by pattern
// prefixes. Lookups walk it without allocating.
type rnode struct {
	label    string   // edge label from the parent
	children []*rnode // sorted by first byte of label
	leaf     bool     // a key ends here
	key      string   // the full key when leaf

	perm *perms     // prefix tree: the rule for pattern key+"*"
	segs []*segRule // segment tree: rules whose text before the first "+" is key
	// segNext holds, keyed by that literal, the rules of this node whose
	// segment after the first "+" is a literal that must equal the path's
	// segment; segs holds the rest. Both are sorted by priority.
	segNext map[string][]*segRule
}

// child returns the child whose label starts with c.
func (n *rnode) child(c byte) *rnode {
	lo, hi := 0, len(n.children)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.children[m].label[0] < c {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(n.children) && n.children[lo].label[0] == c {
		return n.children[lo]
	}
	return nil
}

// insert returns the node for key, creating it if needed.
func (n *rnode) insert(key string) *rnode {
	cur, rest := n, key
	for {
		if rest == "" {
			cur.leaf, cur.key = true, key
			return cur
		}
		c := cur.child(rest[0])
		if c == nil {
			nn := &rnode{label: rest, leaf: true, key: key}
			cur.addChild(nn)
			return nn
		}
		common := commonPrefix(rest, c.label)
		if common < len(c.label) {
			// Split c's edge at common.
			mid := &rnode{label: c.label[:common], children: []*rnode{c}}
			cur.replaceChild(c, mid)
			c.label = c.label[common:]
			c = mid
		}
		cur, rest = c, rest[common:]
	}
}

func (n *rnode) addChild(c *rnode) {
	i := 0
	for i < len(n.children) && n.children[i].label[0] < c.label[0] {
		i++
	}
	n.children = append(n.children, nil)
	copy(n.children[i+1:], n.children[i:])
	n.children[i] = c
}

func (n *rnode) replaceChild(old, c *rnode) {
	for i, o := range n.children {
		if o == old {
			n.children[i] = c
			return
		}
	}
}

func commonPrefix(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// longestPrefix returns the leaf with the longest key that is a prefix of s.
func (n *rnode) longestPrefix(s string) *rnode {
	var best *rnode
	cur, rest := n, s
	for {
		if cur.leaf {
			best = cur
		}
		if rest == "" {
			return best
		}
		c := cur.child(rest[0])
		if c == nil || !strings.HasPrefix(rest, c.label) {
			return best
		}
		cur, rest = c, rest[len(c.label):]
	}
}
