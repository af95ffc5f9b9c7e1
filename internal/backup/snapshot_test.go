package backup_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/backup"
)

// sealer is a stand-in for a cluster's barrier: XOR with a key, enough to
// tell one cluster's seal from another's in these format tests.
func sealer(key byte) (seal, open func([]byte) ([]byte, error)) {
	x := func(b []byte) ([]byte, error) {
		out := bytes.Clone(b)
		for i := range out {
			out[i] ^= key
		}
		return append([]byte{key}, out...), nil
	}
	o := func(b []byte) ([]byte, error) {
		if len(b) == 0 || b[0] != key {
			return nil, errors.New("not ours")
		}
		out := bytes.Clone(b[1:])
		for i := range out {
			out[i] ^= key
		}
		return out, nil
	}
	return x, o
}

func snapshot(t testing.TB, state []byte, key byte) []byte {
	t.Helper()
	seal, _ := sealer(key)
	var buf bytes.Buffer
	h := backup.Header{ClusterID: "c1", StorageType: "raft", Created: time.Unix(1700000000, 0).UTC(), KeyTerm: 3}
	if err := backup.WriteSnapshot(&buf, h, int64(len(state)), bytes.NewReader(state), seal); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readAll(snap []byte, key byte, foreign bool) (*backup.SnapshotReader, []byte, error) {
	_, open := sealer(key)
	r, err := backup.NewSnapshotReader(bytes.NewReader(snap), open)
	if err != nil {
		return nil, nil, err
	}
	if foreign {
		r.AllowForeign()
	}
	b, err := io.ReadAll(r)
	return r, b, err
}

func TestSnapshotRoundTrip(t *testing.T) {
	state := make([]byte, 300_000)
	rand.Read(state)
	snap := snapshot(t, state, 7)
	r, got, err := readAll(snap, 7, false)
	if err != nil || !bytes.Equal(got, state) {
		t.Fatalf("read back: %v, equal=%v", err, bytes.Equal(got, state))
	}
	if !r.Sealed || r.Header.ClusterID != "c1" || r.Header.KeyTerm != 3 || r.Header.Size != int64(len(state)) || r.Digest() == "" {
		t.Fatalf("reader = %+v sealed=%v digest=%q", r.Header, r.Sealed, r.Digest())
	}
	if !backup.IsSnapshot(snap) {
		t.Error("IsSnapshot = false")
	}
}

// Vault's Go client accepts a snapshot only if its archive ends with a
// non-empty SHA256SUMS.sealed (sys_raft.go, RaftSnapshot).
func TestSnapshotShapeForVaultClients(t *testing.T) {
	snap := snapshot(t, []byte("state"), 1)
	zr, err := gzip.NewReader(bytes.NewReader(snap))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	var last int
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		b, _ := io.ReadAll(tr)
		last = len(b)
	}
	if len(names) != 4 || names[3] != "SHA256SUMS.sealed" || last == 0 {
		t.Fatalf("entries = %v, last size %d", names, last)
	}
}

func TestSnapshotRefusesDamageAndStrangers(t *testing.T) {
	state := bytes.Repeat([]byte("ciphertext"), 5000)
	snap := snapshot(t, state, 7)
	// Another cluster's seal: ErrForeign, unless allowed.
	if _, _, err := readAll(snap, 9, false); !errors.Is(err, backup.ErrForeign) {
		t.Fatalf("foreign snapshot = %v, want ErrForeign", err)
	}
	if r, got, err := readAll(snap, 9, true); err != nil || r.Sealed || !bytes.Equal(got, state) {
		t.Fatalf("foreign snapshot, allowed = %v sealed=%v", err, r != nil && r.Sealed)
	}
	// Cut anywhere: never a clean EOF.
	for _, n := range []int{0, 1, 10, len(snap) / 3, len(snap) / 2, len(snap) - 40, len(snap) - 1} {
		if _, _, err := readAll(snap[:n], 7, true); err == nil {
			t.Errorf("a snapshot cut at %d of %d bytes read cleanly", n, len(snap))
		}
	}
	// A state.bin altered (and re-archived) without fixing SHA256SUMS.
	alt := rearchive(t, snap, func(name string, b []byte) []byte {
		if name == "state.bin" {
			b = bytes.Clone(b)
			b[100] ^= 1
		}
		return b
	})
	if _, _, err := readAll(alt, 7, true); !errors.Is(err, backup.ErrCorrupt) {
		t.Fatalf("altered state = %v, want ErrCorrupt", err)
	}
}

// rearchive rewrites snap's archive with each entry passed through f.
func rearchive(t *testing.T, snap []byte, f func(string, []byte) []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(snap))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		b = f(h.Name, b)
		h.Size = int64(len(b))
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	return out.Bytes()
}

// FuzzSnapshotReader: no input panics, and an input that reads cleanly
// without AllowForeign was sealed by this cluster.
func FuzzSnapshotReader(f *testing.F) {
	good := snapshot(f, []byte("the state machine file"), 7)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _, err := readAll(b, 7, false)
		if err == nil && (!r.Sealed || r.Digest() == "") {
			t.Fatalf("accepted without a seal that opens: sealed=%v", r.Sealed)
		}
	})
}
