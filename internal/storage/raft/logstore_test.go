package raft

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	hraft "github.com/hashicorp/raft"
)

func openTestLogStore(t testing.TB) *logStore {
	t.Helper()
	s, err := openLogStore(filepath.Join(t.TempDir(), "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestLogStore(t *testing.T) {
	s := openTestLogStore(t)
	for name, f := range map[string]func() (uint64, error){"FirstIndex": s.FirstIndex, "LastIndex": s.LastIndex} {
		if i, err := f(); i != 0 || err != nil {
			t.Errorf("%s of an empty store = %d, %v; want 0, nil", name, i, err)
		}
	}
	var l hraft.Log
	if err := s.GetLog(1, &l); !errors.Is(err, hraft.ErrLogNotFound) {
		t.Fatalf("GetLog(1) on an empty store = %v, want ErrLogNotFound", err)
	}
	at := time.Unix(1700000000, 123456789)
	var logs []*hraft.Log
	for i := uint64(1); i <= 10; i++ {
		logs = append(logs, &hraft.Log{Index: i, Term: i / 3, Type: hraft.LogCommand, Data: []byte(fmt.Sprint("d", i)), Extensions: []byte{byte(i)}, AppendedAt: at})
	}
	logs[4].AppendedAt = time.Time{}
	logs[4].Type = hraft.LogNoop
	logs[4].Data, logs[4].Extensions = nil, nil
	if err := s.StoreLogs(logs[:9]); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLog(logs[9]); err != nil {
		t.Fatal(err)
	}
	for _, want := range logs {
		var got hraft.Log
		if err := s.GetLog(want.Index, &got); err != nil {
			t.Fatalf("GetLog(%d) = %v", want.Index, err)
		}
		if diff := cmp.Diff(*want, got); diff != "" {
			t.Fatalf("GetLog(%d) mismatch (-want +got):\n%s", want.Index, diff)
		}
	}
	if err := s.DeleteRange(1, 4); err != nil {
		t.Fatal(err)
	}
	if i, _ := s.FirstIndex(); i != 5 {
		t.Errorf("FirstIndex after DeleteRange(1, 4) = %d, want 5", i)
	}
	if err := s.DeleteRange(8, 10); err != nil {
		t.Fatal(err)
	}
	if i, _ := s.LastIndex(); i != 7 {
		t.Errorf("LastIndex after DeleteRange(8, 10) = %d, want 7", i)
	}
	if err := s.GetLog(8, &l); !errors.Is(err, hraft.ErrLogNotFound) {
		t.Errorf("GetLog(8) after delete = %v, want ErrLogNotFound", err)
	}
}

func TestStableStore(t *testing.T) {
	s := openTestLogStore(t)
	// hashicorp/raft tells "absent" from a failure by this exact message.
	if _, err := s.Get([]byte("k")); err == nil || err.Error() != "not found" {
		t.Fatalf("Get(absent) = %v, want \"not found\"", err)
	}
	if _, err := s.GetUint64([]byte("term")); err == nil || err.Error() != "not found" {
		t.Fatalf("GetUint64(absent) = %v, want \"not found\"", err)
	}
	if err := s.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("Get(k) = %q, %v", v, err)
	}
	if err := s.SetUint64([]byte("term"), 1<<40+7); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetUint64([]byte("term")); err != nil || v != 1<<40+7 {
		t.Fatalf("GetUint64(term) = %d, %v", v, err)
	}
	if _, err := s.GetUint64([]byte("k")); err == nil {
		t.Fatal("GetUint64 of a 1-byte value = nil error")
	}
}

func TestDecodeLogRejects(t *testing.T) {
	good := encodeLog(&hraft.Log{Term: 3, Type: hraft.LogCommand, Data: []byte("x"), AppendedAt: time.Unix(5, 0)})
	noTime := encodeLog(&hraft.Log{Term: 3, Type: hraft.LogCommand, Data: []byte("x")})
	for name, b := range map[string][]byte{
		"empty":     nil,
		"version":   append([]byte{9}, good[1:]...),
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte{}, good...), 0),
		"time flag": append(append([]byte{}, noTime[:len(noTime)-1]...), 7),
	} {
		var l hraft.Log
		if err := decodeLog(b, &l); !errors.Is(err, errBadLog) {
			t.Errorf("decodeLog(%s) = %v, want errBadLog", name, err)
		}
	}
}

// BenchmarkStoreLogs compares our bbolt log store with raft's in-memory one
// (a ceiling, not a durable alternative) on batches of 64 1 KiB entries,
// the shape raft writes under load.
func BenchmarkStoreLogs(b *testing.B) {
	stores := map[string]func(b *testing.B) hraft.LogStore{
		"bbolt": func(b *testing.B) hraft.LogStore { return openTestLogStore(b) },
		"inmem": func(*testing.B) hraft.LogStore { return hraft.NewInmemStore() },
	}
	for _, name := range []string{"bbolt", "inmem"} {
		b.Run(name, func(b *testing.B) {
			s := stores[name](b)
			data := make([]byte, 1024)
			const batch = 64
			logs := make([]*hraft.Log, batch)
			next := uint64(1)
			b.SetBytes(batch * 1024)
			b.ResetTimer()
			for b.Loop() {
				for i := range logs {
					logs[i] = &hraft.Log{Index: next, Term: 1, Type: hraft.LogCommand, Data: data, AppendedAt: time.Now()}
					next++
				}
				if err := s.StoreLogs(logs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(next-1)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
