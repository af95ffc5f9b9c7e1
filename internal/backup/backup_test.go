package backup_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/backup"
)

func encode(t *testing.T, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	h := backup.Header{ClusterID: "c-1", StorageType: "bolt", Created: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), KeyTerm: 3}
	if _, err := backup.Write(&buf, h, int64(len(body)), strings.NewReader(body)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

func decode(b []byte) (*backup.Reader, []byte, error) {
	r, err := backup.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(r)
	return r, body, err
}

func TestRoundTrip(t *testing.T) {
	for _, body := range []string{"", "x", strings.Repeat("bolt page ", 10000)} {
		r, got, err := decode(encode(t, body))
		if err != nil {
			t.Fatalf("decode(%d bytes): %v", len(body), err)
		}
		if string(got) != body {
			t.Errorf("body = %d bytes, want %d", len(got), len(body))
		}
		h := r.Header
		if h.Version != backup.Version || h.ClusterID != "c-1" || h.StorageType != "bolt" || h.KeyTerm != 3 || h.Size != int64(len(body)) {
			t.Errorf("header = %+v", h)
		}
		if len(r.Digest()) != 2*backup.HashSize {
			t.Errorf("Digest() = %q", r.Digest())
		}
	}
}

func TestDamageDetected(t *testing.T) {
	good := encode(t, "some ciphertext pages")
	for n := range len(good) {
		if _, _, err := decode(good[:n]); !errors.Is(err, backup.ErrCorrupt) {
			t.Errorf("truncated to %d of %d bytes: err = %v, want ErrCorrupt", n, len(good), err)
		}
	}
	for i := range len(good) {
		bad := bytes.Clone(good)
		bad[i] ^= 0x20
		if _, _, err := decode(bad); err == nil {
			t.Errorf("byte %d flipped: decoded without error", i)
		}
	}
	if _, _, err := decode(append(bytes.Clone(good), 0)); !errors.Is(err, backup.ErrCorrupt) {
		t.Errorf("trailing byte: err = %v, want ErrCorrupt", err)
	}
}

func TestWriteShortBody(t *testing.T) {
	var buf bytes.Buffer
	if _, err := backup.Write(&buf, backup.Header{}, 10, strings.NewReader("short")); err == nil {
		t.Error("Write with a body shorter than size succeeded")
	}
}

func FuzzReaderNeverAcceptsDamage(f *testing.F) {
	var good bytes.Buffer
	if _, err := backup.Write(&good, backup.Header{StorageType: "bolt"}, 4, strings.NewReader("data")); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _, err := decode(b)
		if err != nil {
			return
		}
		// Accepted: the stream must end with the SHA-256 of the rest.
		if len(b) < backup.HashSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		sum := sha256.Sum256(b[:len(b)-backup.HashSize])
		if !bytes.Equal(sum[:], b[len(b)-backup.HashSize:]) || r.Digest() != hex.EncodeToString(sum[:]) {
			t.Errorf("accepted a stream whose hash does not match")
		}
	})
}
