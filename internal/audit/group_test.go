package audit_test

import (
	"os"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/audit"
)

// Concurrent writers share write(2) calls (group write): the log must still
// hold every entry exactly once, in one intact chain with its checkpoints.
func TestConcurrentWritersKeepTheChain(t *testing.T) {
	b := newBroker(t, audit.Options{})
	p := logPath(t)
	b.enable(t, "file", "file", map[string]string{"file_path": p, "checkpoint_interval": "7"})
	pub := b.publicKey(t, "file")
	const writers, pairs = 8, 40
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() { b.traffic(t, pairs) })
	}
	wg.Wait()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify(pub, false, [2]string{"audit.log", string(raw)})
	if err != nil {
		t.Fatalf("Verify = %v", err)
	}
	if rep.Entries != 2*writers*pairs {
		t.Errorf("entries = %d, want %d", rep.Entries, 2*writers*pairs)
	}
}
