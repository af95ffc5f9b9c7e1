package kv

import (
	"reflect"
	"testing"
	"time"
)

func TestMetaCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    keyMeta
	}{
		{name: "empty", m: keyMeta{}},
		{name: "full", m: keyMeta{
			Created: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano(), Updated: 1 << 62, Current: 12, Oldest: 3,
			MaxVersions: 10, CASRequired: true, DeleteAfter: 90 * time.Minute,
			Custom:   map[string]string{"owner": "team-a", "ünï": "cødé", "": ""},
			Versions: []versionMeta{{N: 3, Created: 1}, {N: 4, Created: 2, Deleted: -5}, {N: 12, Created: 3, Destroyed: true}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := encodeMeta(&tt.m)
			if err != nil {
				t.Fatal(err)
			}
			var got keyMeta
			if err := decodeMeta(b, &got); err != nil {
				t.Fatalf("decodeMeta(encodeMeta(%+v)): %v", tt.m, err)
			}
			if !reflect.DeepEqual(got, tt.m) {
				t.Errorf("round trip = %+v, want %+v", got, tt.m)
			}
			for i := range b {
				var short keyMeta
				if decodeMeta(b[:i], &short) == nil {
					t.Errorf("truncated record of %d/%d bytes decoded", i, len(b))
				}
			}
			var long keyMeta
			if decodeMeta(append(b, 0), &long) == nil {
				t.Error("record with trailing byte decoded")
			}
		})
	}
}

// FuzzDecodeMeta checks that any stored bytes either fail to decode or
// decode to a record that re-encodes to an equal record, with versions in
// strictly ascending order.
func FuzzDecodeMeta(f *testing.F) {
	full := keyMeta{Created: 1, Updated: 2, Current: 3, CASRequired: true, Custom: map[string]string{"a": "b"},
		Versions: []versionMeta{{N: 1, Created: 1}, {N: 3, Created: 2, Deleted: 3, Destroyed: true}}}
	b, _ := encodeMeta(&full)
	f.Add(b)
	b, _ = encodeMeta(&keyMeta{})
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var m keyMeta
		if decodeMeta(raw, &m) != nil {
			return
		}
		for i := 1; i < len(m.Versions); i++ {
			if m.Versions[i].N <= m.Versions[i-1].N {
				t.Fatalf("versions out of order: %+v", m.Versions)
			}
		}
		again, _ := encodeMeta(&m)
		var m2 keyMeta
		if err := decodeMeta(again, &m2); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-decoded %+v, want %+v", m2, m)
		}
	})
}
