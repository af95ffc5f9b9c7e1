package barrier

// KeyMaterialForTest returns the live root key and keyring term slices (not
// copies), so tests can check that Seal zeroes them and that they never
// reach storage.
func (b *Barrier) KeyMaterialForTest() [][]byte {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := [][]byte{b.rootKey}
	for _, t := range sortedTerms(b.terms) {
		out = append(out, t.key)
	}
	return out
}
