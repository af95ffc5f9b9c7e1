package uuid_test

import (
	"regexp"
	"testing"

	"github.com/keyward/keyward/internal/uuid"
)

var v4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewIsVersion4(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		u := uuid.New()
		if !v4.MatchString(u) {
			t.Fatalf("New() = %q, not a version 4 UUID", u)
		}
		if seen[u] {
			t.Fatalf("New() repeated %q", u)
		}
		seen[u] = true
	}
}

func TestFormat(t *testing.T) {
	b := [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}
	if got, want := uuid.Format(b), "01234567-89ab-cdef-fedc-ba9876543210"; got != want {
		t.Fatalf("Format = %q, want %q", got, want)
	}
}
