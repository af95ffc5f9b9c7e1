package storage_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/storage"
)

func TestListEntry(t *testing.T) {
	tests := []struct {
		prefix, key string
		name        string
		ok          bool
	}{
		{"", "a", "a", true},
		{"", "a/b", "a/", true},
		{"", "a/", "a/", true},
		{"", "/a", "/", true},
		{"a/", "a/b", "b", true},
		{"a/", "a/b/c", "b/", true},
		{"a/", "a//b", "/", true},
		{"a/", "a/", "", false}, // the prefix itself is not listed
		{"a/", "a", "", false},
		{"a/", "ab/c", "", false},
		{"a/", "b/a/c", "", false},
		{"", "", "", false},
	}
	for _, tc := range tests {
		name, ok := storage.ListEntry(tc.prefix, tc.key)
		if name != tc.name || ok != tc.ok {
			t.Errorf("ListEntry(%q, %q) = %q, %v; want %q, %v", tc.prefix, tc.key, name, ok, tc.name, tc.ok)
		}
	}
}

func TestListNames(t *testing.T) {
	keys := []string{"z", "b/d/e", "a", "b/c", "b/d/f", "c/", "foo/bar", "foo", "a", "b/c"}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a", "b/", "c/", "foo", "foo/", "z"}},
		{"b/", []string{"c", "d/"}},
		{"b/d/", []string{"e", "f"}},
		{"c/", []string{}},
		{"missing/", []string{}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("prefix=%q", tc.prefix), func(t *testing.T) {
			got := storage.ListNames(tc.prefix, slices.Values(keys))
			if got == nil {
				t.Fatalf("ListNames(%q) = nil, want a non-nil slice", tc.prefix)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ListNames(%q) mismatch (-want +got):\n%s", tc.prefix, diff)
			}
		})
	}
}
