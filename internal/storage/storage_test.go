package storage_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keyward/keyward/internal/storage"
)

func TestCheckKey(t *testing.T) {
	if err := storage.CheckKey(strings.Repeat("k", storage.MaxKeyLength)); err != nil {
		t.Errorf("CheckKey(MaxKeyLength bytes) = %v", err)
	}
	err := storage.CheckKey(strings.Repeat("k", storage.MaxKeyLength+1))
	if !errors.Is(err, storage.ErrKeyTooLong) {
		t.Fatalf("CheckKey(MaxKeyLength+1 bytes) = %v, want ErrKeyTooLong", err)
	}
	if len(err.Error()) > 256 {
		t.Errorf("error carries the key: %d bytes", len(err.Error()))
	}
}

func TestLogKey(t *testing.T) {
	short := "logical/abc/secret/data/app"
	if got := storage.LogKey(short); got != short {
		t.Errorf("LogKey(short) = %q", got)
	}
	a := strings.Repeat("é", 5000) + "a"
	b := strings.Repeat("é", 5000) + "b"
	la, lb := storage.LogKey(a), storage.LogKey(b)
	if len(la) > 160 || !utf8.ValidString(la) {
		t.Errorf("LogKey(long) = %q: %d bytes, valid UTF-8 %v", la, len(la), utf8.ValidString(la))
	}
	if la == lb {
		t.Errorf("two long keys log the same: %q", la)
	}
	if !strings.Contains(la, "10001 bytes") {
		t.Errorf("LogKey(long) = %q, want the length", la)
	}
}
