package filecrypt

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
)

// Merge three-way merges the encrypted versions base, ours and theirs of
// the file name at the level of values, in memory. Each version is
// decrypted (and its MAC checked); a value changed on one side only takes
// that side's value; one changed on both sides to different values is a
// conflict, listed by path and left at ours. Added and removed mapping
// entries merge the same way. The result is encrypted with ours' data key
// and key groups (theirs' when only theirs changed the key groups or
// rotated the data key), so
// values no side changed keep their ciphertext and the MAC is recomputed.
// An empty base (the file was added on both sides) has no values.
func Merge(ctx context.Context, name string, base, ours, theirs []byte, o Options) (merged []byte, conflicts []Path, err error) {
	a, err := openAs(ctx, name, name+" (ours)", ours, o)
	if err != nil {
		return nil, nil, err
	}
	b, err := openAs(ctx, name, name+" (theirs)", theirs, o)
	if err != nil {
		return nil, nil, err
	}
	baseVals := map[string]leaf{}
	var baseMeta *Metadata
	var baseKey []byte
	if len(bytes.TrimSpace(base)) > 0 {
		bo, err := openAs(ctx, name, name+" (base)", base, o)
		if err != nil {
			return nil, nil, err
		}
		baseMeta, baseKey = bo.meta, bo.dataKey
		for _, l := range bo.doc.leaves() {
			baseVals[l.path.String()] = l
		}
	}
	ourVals, theirVals := map[string]leaf{}, map[string]leaf{}
	for _, l := range a.doc.leaves() {
		ourVals[l.path.String()] = l
	}
	var order []leaf // ours, then theirs' additions
	order = append(order, a.doc.leaves()...)
	for _, l := range b.doc.leaves() {
		theirVals[l.path.String()] = l
		if _, ok := ourVals[l.path.String()]; !ok {
			order = append(order, l)
		}
	}
	for _, l := range baseVals {
		_, inA := ourVals[l.path.String()]
		_, inB := theirVals[l.path.String()]
		if !inA && !inB {
			continue
		}
		if !inA || !inB {
			order = append(order, l)
		}
	}
	same := func(x, y leaf, okx, oky bool) bool {
		return okx == oky && (!okx || x.value == y.value && x.typ == y.typ)
	}
	done := map[string]bool{}
	for _, l := range order {
		k := l.path.String()
		if done[k] {
			continue
		}
		done[k] = true
		ov, inO := baseVals[k]
		av, inA := ourVals[k]
		bv, inB := theirVals[k]
		switch {
		case same(av, bv, inA, inB), same(bv, ov, inB, inO):
			continue // ours already holds the result
		case same(av, ov, inA, inO):
			var err error
			if inB {
				err = a.doc.set(bv.path, bv.value, bv.typ)
			} else {
				err = a.doc.remove(av.path)
			}
			if err != nil {
				conflicts = append(conflicts, l.path)
			}
		default:
			conflicts = append(conflicts, l.path)
		}
	}
	res := a
	sameKey := func(x, y []byte) bool { return subtle.ConstantTimeCompare(x, y) == 1 }
	if sameGroups(baseMeta, a.meta) && !sameGroups(a.meta, b.meta) ||
		baseKey != nil && sameKey(baseKey, a.dataKey) && !sameKey(a.dataKey, b.dataKey) {
		res = b // only theirs changed who can decrypt, or rotated the data key: keep that
	}
	merged, err = res.reseal(name, a.doc)
	if err != nil {
		return nil, nil, err
	}
	return merged, conflicts, nil
}

// ConflictError lists the values both sides of a merge changed.
type ConflictError struct {
	Name  string
	Paths []Path
}

func (e *ConflictError) Error() string {
	s := fmt.Sprintf("%s: %d value(s) changed on both sides:", e.Name, len(e.Paths))
	for _, p := range e.Paths {
		s += " " + p.Display()
	}
	return s
}
