package kv

import (
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// SetClock replaces the time source of a backend built by Factory.
func SetClock(b logical.Backend, now func() time.Time) {
	switch t := b.(type) {
	case *v1Backend:
		t.now = now
	case *v2Backend:
		t.now = now
	default:
		panic("kv.SetClock: not a kv backend")
	}
}

// VersionKey exposes the storage key of a version blob for layout tests.
var VersionKey = versionKey
