package scan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// Baseline is a set of accepted findings, stored by fingerprint so the file
// holds no secret.
type Baseline struct {
	Version int             `json:"version"`
	Entries []BaselineEntry `json:"findings"`
	set     map[string]bool
}

// BaselineEntry records one accepted finding.
type BaselineEntry struct {
	Fingerprint string `json:"fingerprint"`
	RuleID      string `json:"rule_id"`
	Path        string `json:"path"`
}

// NewBaseline builds a baseline accepting findings.
func NewBaseline(findings []Finding) *Baseline {
	b := &Baseline{Version: 1}
	seen := map[string]bool{}
	for _, f := range findings {
		if seen[f.Fingerprint] {
			continue
		}
		seen[f.Fingerprint] = true
		b.Entries = append(b.Entries, BaselineEntry{Fingerprint: f.Fingerprint, RuleID: f.RuleID, Path: f.Path})
	}
	sort.Slice(b.Entries, func(i, j int) bool {
		if b.Entries[i].Path != b.Entries[j].Path {
			return b.Entries[i].Path < b.Entries[j].Path
		}
		return b.Entries[i].Fingerprint < b.Entries[j].Fingerprint
	})
	if b.Entries == nil {
		b.Entries = []BaselineEntry{}
	}
	return b
}

// ReadBaseline parses a baseline file.
func ReadBaseline(r io.Reader) (*Baseline, error) {
	var b Baseline
	dec := json.NewDecoder(io.LimitReader(r, 256<<20))
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("parse baseline: %w", err)
	}
	if b.Version != 1 {
		return nil, fmt.Errorf("baseline version %d not supported", b.Version)
	}
	return &b, nil
}

// LoadBaseline reads a baseline file from disk.
func LoadBaseline(name string) (*Baseline, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open baseline: %w", err)
	}
	defer f.Close()
	return ReadBaseline(f)
}

// Write stores the baseline as JSON.
func (b *Baseline) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}

// Save writes the baseline to a file.
func (b *Baseline) Save(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("write baseline: %w", err)
	}
	err = b.Write(f)
	return errors.Join(err, f.Close())
}

// Filter returns the findings the baseline does not accept.
func (b *Baseline) Filter(findings []Finding) []Finding {
	if b.set == nil {
		b.set = make(map[string]bool, len(b.Entries))
		for _, e := range b.Entries {
			b.set[e.Fingerprint] = true
		}
	}
	var out []Finding
	for _, f := range findings {
		if !b.set[f.Fingerprint] {
			out = append(out, f)
		}
	}
	return out
}
