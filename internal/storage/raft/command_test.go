package raft

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keyward/keyward/internal/storage"
)

func TestCommandRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		ops  []storage.Op
	}{
		{"empty", []storage.Op{}},
		{"put", []storage.Op{{Key: "a/b", Value: []byte("v")}}},
		{"empty value", []storage.Op{{Key: "k", Value: []byte{}}}},
		{"delete", []storage.Op{{Key: "k", Delete: true}}},
		{"mixed", []storage.Op{{Key: "x", Value: []byte{0, 1, 2}}, {Key: "y", Delete: true}, {Key: "longest/" + strings.Repeat("k", storage.MaxKeyLength-8), Value: bytes.Repeat([]byte{7}, 300)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeCommand(tc.ops)
			got, err := decodeCommand(b)
			if err != nil {
				t.Fatalf("decodeCommand(encodeCommand(ops)) = %v", err)
			}
			if diff := cmp.Diff(tc.ops, got); diff != "" {
				t.Fatalf("round trip mismatch (-want +got):\n%s", diff)
			}
			for _, op := range got {
				if !op.Delete && op.Value == nil {
					t.Errorf("decoded put of %q has a nil value", op.Key)
				}
			}
		})
	}
}

func TestDecodeCommandRejects(t *testing.T) {
	valid := encodeCommand([]storage.Op{{Key: "k", Value: []byte("v")}})
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"unknown version", append([]byte{2}, valid[1:]...)},
		{"trailing byte", append(append([]byte{}, valid...), 0)},
		{"truncated", valid[:len(valid)-1]},
		{"unknown kind", []byte{1, 1, 9, 1, 'k'}},
		{"empty key", []byte{1, 1, opDelete, 0}},
		{"count too large", []byte{1, 100, opDelete, 1, 'k'}},
		{"non-minimal varint", []byte{1, 0x81, 0x00, opDelete, 1, 'k'}},
		{"key too long", encodeCommand([]storage.Op{{Key: strings.Repeat("k", storage.MaxKeyLength+1), Delete: true}})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if ops, err := decodeCommand(tc.in); !errors.Is(err, errBadCommand) {
				t.Fatalf("decodeCommand(%x) = %d ops, %v; want errBadCommand", tc.in, len(ops), err)
			}
		})
	}
}

// FuzzDecodeCommand: a command the decoder accepts is canonical (it
// re-encodes to the same bytes) and holds only keys every backend accepts;
// a rejection never echoes input bytes.
func FuzzDecodeCommand(f *testing.F) {
	f.Add(encodeCommand(nil))
	f.Add(encodeCommand([]storage.Op{{Key: "a/b", Value: []byte("value")}, {Key: "c", Delete: true}}))
	f.Add(encodeCommand([]storage.Op{{Key: "k", Value: []byte{}}}))
	f.Add([]byte{1, 0x81, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		ops, err := decodeCommand(data)
		if err != nil {
			if !errors.Is(err, errBadCommand) {
				t.Fatalf("decodeCommand error %v does not wrap errBadCommand", err)
			}
			if len(data) >= 8 && strings.Contains(err.Error(), string(data[1:])) {
				t.Fatalf("error %q echoes the input", err)
			}
			return
		}
		for _, op := range ops {
			if op.Key == "" || storage.CheckKey(op.Key) != nil {
				t.Fatalf("accepted a key of %d bytes", len(op.Key))
			}
			if !op.Delete && op.Value == nil {
				t.Fatal("accepted put has a nil value")
			}
		}
		if again := encodeCommand(ops); !bytes.Equal(again, data) {
			t.Fatalf("accepted %x, re-encodes to %x", data, again)
		}
	})
}
