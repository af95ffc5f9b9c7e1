package token

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzBatchPayload: decodeBatch never panics, and what it accepts encodes
// back to a payload that decodes to the same entry (the format has no
// hidden state: an entry is its payload).
func FuzzBatchPayload(f *testing.F) {
	e := &Entry{
		Policies: []string{"ci", "default"}, Meta: map[string]string{"repository": "octo/app", "b": ""},
		DisplayName: "jwt-repo", Path: "auth/jwt/login", EntityID: "e1", Alias: "repo:octo/app", Role: "r",
		BoundCIDRs: []string{"10.0.0.0/8"}, CreationTime: time.Unix(1767322000, 5), TTL: time.Hour,
	}
	f.Add(encodeBatch(e, [hashLen]byte{}))
	e.parentHash = hexHash([hashLen]byte{1, 2, 3})
	f.Add(encodeBatch(e, [hashLen]byte{1, 2, 3}))
	f.Add([]byte{0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeBatch(b)
		if err != nil {
			return
		}
		if got.Type != TypeBatch || got.TTL <= 0 || got.ExpireTime.IsZero() || got.Accessor != "" {
			t.Fatalf("decodeBatch(%x) = %+v: not a batch entry", b, got)
		}
		var parent [hashLen]byte
		if ph, ok := parseHash(got.parentHash); ok {
			parent = ph
		} else if got.parentHash != "" || !got.Orphan {
			t.Fatalf("decodeBatch(%x): parent %q, orphan %v", b, got.parentHash, got.Orphan)
		}
		again, err := decodeBatch(encodeBatch(got, parent))
		if err != nil {
			t.Fatalf("re-encoding %x: %v", b, err)
		}
		opts := []cmp.Option{cmp.AllowUnexported(Entry{}), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })}
		if diff := cmp.Diff(got, again, opts...); diff != "" {
			t.Fatalf("entry changed through encode (-first +again):\n%s", diff)
		}
	})
}
