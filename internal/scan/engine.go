package scan

import (
	"bytes"
	"fmt"
	"sort"
	"sync"
)

// Engine matches a compiled ruleset against bytes. It is safe for
// concurrent use.
type Engine struct {
	rules   []*Rule
	pf      *prefilter
	kwRules [][]int32 // keyword index -> rule indexes
	allow   Allowlist // global allowlist
	byID    map[string]*Rule
}

// match is a raw rule match inside one buffer.
type match struct {
	rule       *Rule
	start, end int   // the secret
	mstart     int   // where the whole match starts
	veto       bool  // failed validation: suppresses overlapping generic matches, never reported
	alt        *Rule // the derived rule this match becomes in the right context
}

// nearby is how far (in bytes, either side) another credential may be for
// an unlabelled key to count as one: a few lines of a configuration block.
const nearby = 512

type window struct{ lo, hi int }

const (
	lineBefore      = 256
	lineAfter       = 512
	multilineBefore = 4 << 10
	multilineAfter  = 16 << 10
)

// NewEngine compiles rules and a global allowlist into an Engine.
func NewEngine(rules []*Rule, allow Allowlist) (*Engine, error) {
	e := &Engine{allow: allow, byID: map[string]*Rule{}}
	var keywords []string
	kwIndex := map[string]int{}
	seen := map[string]bool{}
	byID := map[string]*Rule{}
	for _, r := range rules {
		byID[r.ID] = r
		r.shaped = nil
	}
	for _, r := range rules {
		if err := r.compile(); err != nil {
			return nil, err
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("duplicate rule id %q", r.ID)
		}
		seen[r.ID] = true
		e.byID[r.ID] = r
		ri := int32(len(e.rules))
		e.rules = append(e.rules, r)
		if r.derivedFrom != "" {
			if base := byID[r.derivedFrom]; base != nil {
				base.shaped = r
			}
			continue
		}
		for _, k := range r.Keywords {
			ki, ok := kwIndex[k]
			if !ok {
				ki = len(keywords)
				kwIndex[k] = ki
				keywords = append(keywords, k)
				e.kwRules = append(e.kwRules, nil)
			}
			if l := e.kwRules[ki]; len(l) == 0 || l[len(l)-1] != ri {
				e.kwRules[ki] = append(e.kwRules[ki], ri)
			}
		}
	}
	e.pf = newPrefilter(keywords)
	return e, nil
}

// Rules returns the engine's rules in order. The slice must not be modified.
func (e *Engine) Rules() []*Rule { return e.rules }

type scratch struct {
	win    [][]window
	hits   [][]int // custom detectors: keyword start,end pairs
	active []int
	pend   [4][]int // prefilter hit buffers
}

var scratchPool = sync.Pool{New: func() any { return &scratch{} }}

// matches returns the accepted matches in data, sorted by start. path is
// the file data is from: in a configuration file an unlabelled key is
// credible on its own.
func (e *Engine) matches(data []byte, path string) []match {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	if len(sc.win) < len(e.rules) {
		sc.win = make([][]window, len(e.rules))
		sc.hits = make([][]int, len(e.rules))
	}
	sc.active = sc.active[:0]
	n := len(data)
	e.pf.find(data, &sc.pend, func(end, kw int) {
		start := end - e.pf.lens[kw]
		for _, ri := range e.kwRules[kw] {
			r := e.rules[ri]
			if r.anchored {
				if r.leftBoundary && start > 0 && isWordByte(data[start-1]) {
					continue
				}
				if r.lineStart && !atLineStart(data, start) {
					continue
				}
				h := sc.hits[ri]
				if len(h) == 0 {
					sc.active = append(sc.active, int(ri))
				} else if h[len(h)-2] == start {
					continue
				}
				sc.hits[ri] = append(h, start, end)
				continue
			}
			if r.detect != nil {
				if len(sc.hits[ri]) == 0 {
					sc.active = append(sc.active, int(ri))
				}
				sc.hits[ri] = append(sc.hits[ri], start, end)
				continue
			}
			ws := sc.win[ri]
			k := len(ws)
			var lo, hi int
			if r.Multiline {
				lo, hi = max(0, start-multilineBefore), min(n, end+multilineAfter)
			} else {
				if k > 0 && start-lineBefore <= ws[k-1].hi && (ws[k-1].hi >= start || bytes.IndexByte(data[ws[k-1].hi:start], '\n') < 0) {
					// merges with the previous window: its start stands
					if end+lineAfter <= ws[k-1].hi {
						continue
					}
					lo = ws[k-1].lo
				} else {
					lo = max(0, start-lineBefore)
					if i := bytes.LastIndexByte(data[lo:start], '\n'); i >= 0 {
						lo += i + 1
					}
				}
				hi = min(n, end+lineAfter)
				if i := bytes.IndexByte(data[end:hi], '\n'); i >= 0 {
					hi = end + i
				}
			}
			if k > 0 && lo <= ws[k-1].hi {
				if hi > ws[k-1].hi {
					ws[k-1].hi = hi
				}
				continue
			}
			if len(ws) == 0 {
				sc.active = append(sc.active, int(ri))
			}
			sc.win[ri] = append(ws, window{lo, hi})
		}
	})
	var out []match
	for _, ri := range sc.active {
		r := e.rules[ri]
		r.ensure()
		if r.anchored {
			h := sc.hits[ri]
			for i := 0; i < len(h); i += 2 {
				lo := h[i]
				var hi int
				if r.Multiline {
					hi = min(n, lo+multilineAfter)
				} else {
					// single-line patterns stop at a newline by themselves
					hi = min(n, lo+r.span)
					if r.minRun > 1 && !hasRun(data, lo, hi, r.minRun) {
						continue
					}
					if r.needAt && !runHas(data, lo, hi, '@') {
						continue
					}
				}
				m := r.anchor.FindSubmatchIndex(data[lo:hi])
				if m == nil {
					continue
				}
				out = e.consider(out, r, data, lo, m)
			}
			sc.hits[ri] = h[:0]
			continue
		}
		if r.detect != nil {
			h := sc.hits[ri]
			last := -1
			for i := 0; i < len(h); i += 2 {
				s, t, ok := r.detect(data, h[i], h[i+1])
				if ok && s != last {
					last = s
					if e.accept(r, data[s:t]) {
						m := match{rule: r, start: s, end: t, mstart: h[i]}
						if r.shaped != nil && awsSecretShaped(data[s:t]) && e.accept(r.shaped, data[s:t]) {
							m.alt = r.shaped
						}
						out = append(out, m)
					}
				}
			}
			sc.hits[ri] = h[:0]
			continue
		}
		for _, w := range sc.win[ri] {
			for _, m := range r.Pattern.FindAllSubmatchIndex(data[w.lo:w.hi], -1) {
				out = e.consider(out, r, data, w.lo, m)
			}
		}
		sc.win[ri] = sc.win[ri][:0]
	}
	config := -1 // unknown until a match needs it
	for k := range out {
		if out[k].alt == nil {
			continue
		}
		if config < 0 {
			config = 0
			if configFile(path) {
				config = 1
			}
		}
		if config == 1 || credentialNear(out, k) {
			out[k].rule = out[k].alt
		}
	}
	return resolveOverlaps(out)
}

// credentialNear reports whether another credential (not a candidate for
// a derived rule itself) is found within nearby bytes of ms[k].
func credentialNear(ms []match, k int) bool {
	m := ms[k]
	for i, o := range ms {
		if i == k || o.veto || o.alt != nil || o.start < m.end && m.start < o.end {
			continue
		}
		if o.end > m.start-nearby && o.start < m.end+nearby {
			return true
		}
	}
	return false
}

// consider checks one regex match (offsets relative to base) and appends
// it, or a veto for a token-shaped value that failed validation.
func (e *Engine) consider(out []match, r *Rule, data []byte, base int, m []int) []match {
	s, t := m[2*r.secretGroup], m[2*r.secretGroup+1]
	if s < 0 {
		return out
	}
	if u := r.userGroup; u > 0 && m[2*u] >= 0 && string(data[base+m[2*u]:base+m[2*u+1]]) == string(data[base+s:base+t]) {
		return out // postgres:postgres@localhost
	}
	if e.accept(r, data[base+s:base+t]) {
		return append(out, match{rule: r, start: base + s, end: base + t, mstart: base + m[0]})
	}
	if r.validate != nil && !r.validate(string(data[base+s:base+t])) {
		// a token-shaped value with a bad checksum: keep generic rules from
		// reporting it either
		return append(out, match{rule: r, start: base + s, end: base + t, mstart: base + m[0], veto: true})
	}
	return out
}

// atLineStart reports whether only spaces and tabs precede i on its line.
func atLineStart(data []byte, i int) bool {
	for i > 0 {
		i--
		switch data[i] {
		case '\n':
			return true
		case ' ', '\t':
		default:
			return false
		}
	}
	return true
}

func isWordByte(c byte) bool {
	return c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// accept applies a rule's validator, entropy floor, placeholder filter and
// the allowlists to a candidate secret.
func (e *Engine) accept(r *Rule, b []byte) bool {
	s := string(b)
	if r.validate != nil && !r.validate(s) {
		return false
	}
	if r.MinEntropy > 0 && entropy(s) < r.MinEntropy {
		return false
	}
	if isPlaceholder(s, r.loosePlaceholders) || constantName(s) {
		return false
	}
	if e.allow.allowsSecret(s) || r.Allow.allowsSecret(s) {
		return false
	}
	return true
}

// resolveOverlaps sorts matches and drops duplicates and generic matches
// whose secret overlaps a specific rule's secret.
func resolveOverlaps(ms []match) []match {
	if len(ms) == 1 && !ms[0].veto {
		return ms
	}
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].start != ms[j].start {
			return ms[i].start < ms[j].start
		}
		if ms[i].rule.Generic != ms[j].rule.Generic {
			return !ms[i].rule.Generic
		}
		return ms[i].rule.ID < ms[j].rule.ID
	})
	keep := make([]match, 0, len(ms))
	for i, m := range ms {
		if m.veto {
			continue
		}
		drop := false
		for j := range ms {
			if j == i {
				continue
			}
			o := ms[j]
			if o.start >= m.end {
				if j > i {
					break
				}
				continue
			}
			overlap := o.start < m.end && m.start < o.end
			if !overlap {
				continue
			}
			if m.rule.Generic && (!o.rule.Generic || o.veto) {
				drop = true
				break
			}
			if !o.veto && m.rule.Generic == o.rule.Generic && j < i && (o.start == m.start && o.end == m.end || o.rule == m.rule) {
				drop = true // the same text found twice
				break
			}
		}
		if !drop {
			keep = append(keep, m)
		}
	}
	return keep
}
