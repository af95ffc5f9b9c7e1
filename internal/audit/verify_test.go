package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
)

// realLog produces a closed log of 2*pairs entries plus checkpoints through
// a real broker and file device, and returns its lines and public key.
func realLog(t testing.TB, pairs, interval int) ([]string, ed25519.PublicKey) {
	t.Helper()
	return realLogWith(t, newBroker(t, audit.Options{}), pairs, interval)
}

// fixedLog is realLog with fixed keys and clock, identical in every process
// (fuzz workers rebuild it).
func fixedLog(t testing.TB, pairs, interval int) ([]string, ed25519.PublicKey) {
	t.Helper()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := newBroker(t, audit.Options{Now: func() time.Time { return clock }})
	keys := `{"hmac":"` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)) +
		`","ed25519_seed":"` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32)) + `"}`
	if err := b.view.Put(t.Context(), "keys/file", []byte(keys)); err != nil {
		t.Fatal(err)
	}
	return realLogWith(t, b, pairs, interval)
}

func realLogWith(t testing.TB, b *testBroker, pairs, interval int) ([]string, ed25519.PublicKey) {
	t.Helper()
	p := logPath(t)
	b.enable(t, "file", "file", map[string]string{"file_path": p, "checkpoint_interval": itoa(interval)})
	pub := b.publicKey(t, "file")
	b.traffic(t, pairs)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(strings.TrimSuffix(string(raw), "\n"), "\n"), pub
}

func itoa(n int) string { return strconv.Itoa(n) }

func join(lines []string) string {
	s := strings.Join(lines, "")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

func verify(pub ed25519.PublicKey, allowOpen bool, files ...[2]string) (audit.Report, error) {
	var in []audit.Input
	for _, f := range files {
		in = append(in, audit.Input{Name: f[0], R: strings.NewReader(f[1])})
	}
	return audit.Verify(in, audit.VerifyOptions{PublicKey: pub, AllowOpenTail: allowOpen})
}

func TestVerifyIntact(t *testing.T) {
	lines, pub := realLog(t, 30, 7)
	rep, err := verify(pub, false, [2]string{"audit.log", join(lines)})
	if err != nil {
		t.Fatalf("Verify(intact) = %v", err)
	}
	if rep.Entries != 60 || rep.Lines != len(lines) || rep.LastCheckpoint.Line != len(lines) {
		t.Errorf("report = %+v, want 60 entries in %d lines, last checkpoint on the last line", rep, len(lines))
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if _, err := verify(other, false, [2]string{"audit.log", join(lines)}); err == nil {
		t.Error("Verify with another public key succeeded")
	}
}

// T39: each tampering is caught, and the report names the first bad line.
func TestVerifyTamper(t *testing.T) {
	lines, pub := realLog(t, 20, 1000) // open checkpoint on line 1, the next at close: line 42
	n := len(lines)
	edit := func(i int, old, new string) []string {
		out := append([]string(nil), lines...)
		out[i] = strings.Replace(out[i], old, new, 1)
		return out
	}
	without := func(i int) []string {
		out := append([]string(nil), lines[:i]...)
		return append(out, lines[i+1:]...)
	}
	insertAt := func(i int, l string) []string {
		out := append([]string(nil), lines[:i]...)
		out = append(out, l)
		return append(out, lines[i:]...)
	}
	swap := func(i, j int) []string {
		out := append([]string(nil), lines...)
		out[i], out[j] = out[j], out[i]
		return out
	}
	// A forged entry that claims line 10's place: same seq and prev.
	forged := strings.Replace(lines[9], `"path":"secret/data/app4"`, `"path":"secret/data/other"`, 1)
	tests := []struct {
		name string
		log  string
		line int
		kind string
	}{
		{"edit path", join(edit(5, "secret/data/app2", "secret/data/app9")), 6, audit.KindEdited},
		{"edit hmac", join(edit(12, `"value":"hmac-sha256:`, `"value":"hmac-sha256:0`)), 13, audit.KindEdited},
		{"edit first line", join(edit(0, `"device":"file"`, `"device":"fila"`)), 1, audit.KindEdited},
		{"edit first entry", join(edit(1, "192.0.2.7", "192.0.2.8")), 2, audit.KindEdited},
		{"edit closing checkpoint", join(edit(n-1, `"reason":"close"`, `"reason":"closd"`)), n, audit.KindEdited},
		{"delete middle", join(without(6)), 7, audit.KindDeleted},
		{"delete first", join(without(0)), 1, audit.KindDeleted},
		{"insert forged", join(insertAt(9, forged)), 10, audit.KindInserted},
		{"insert copy", join(insertAt(15, lines[3])), 16, audit.KindDuplicated},
		{"reorder", join(swap(12, 13)), 13, audit.KindReordered},
		{"duplicate", join(insertAt(8, lines[7])), 9, audit.KindDuplicated},
		{"truncate whole lines", join(lines[:30]), 30, audit.KindOpenTail},
		{"truncate mid line", join(lines[:30]) + lines[30][:40], 31, audit.KindTruncated},
		{"blank line", join(insertAt(5, "\n")), 6, audit.KindMalformed},
		{"garbage", join(insertAt(5, "not json\n")), 6, audit.KindMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verify(pub, false, [2]string{"audit.log", tt.log})
			var p *audit.Problem
			if !errors.As(err, &p) {
				t.Fatalf("Verify = %v, want a *Problem", err)
			}
			if p.Line != tt.line || p.Kind != tt.kind || p.File != "audit.log" {
				t.Errorf("Verify = %v, want audit.log:%d %s", p, tt.line, tt.kind)
			}
		})
	}
}

func TestVerifyOpenTail(t *testing.T) {
	lines, pub := realLog(t, 10, 6)
	cut := join(lines[:len(lines)-2]) // ends after an entry, not a checkpoint
	if _, err := verify(pub, false, [2]string{"a", cut}); err == nil {
		t.Fatal("open tail accepted without AllowOpenTail")
	}
	rep, err := verify(pub, true, [2]string{"a", cut})
	if err != nil || rep.OpenTail == 0 {
		t.Fatalf("Verify(AllowOpenTail) = %+v, %v; want success with an open tail", rep, err)
	}
}

// Rotation: logrotate renames the file and SIGHUP reopens it; the new file
// starts with a signed open checkpoint and continues the chain.
func TestVerifyRotation(t *testing.T) {
	b := newBroker(t, audit.Options{})
	p := logPath(t)
	b.enable(t, "file", "file", map[string]string{"file_path": p})
	pub := b.publicKey(t, "file")
	b.traffic(t, 5)
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Reopen(); err != nil {
		t.Fatal(err)
	}
	b.traffic(t, 5)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(p + ".1")
	cur, _ := os.ReadFile(p)
	if _, err := verify(pub, false, [2]string{"audit.log.1", string(old)}, [2]string{"audit.log", string(cur)}); err != nil {
		t.Errorf("Verify(rotated, in order) = %v", err)
	}
	if _, err := verify(pub, false, [2]string{"audit.log", string(cur)}); err != nil {
		t.Errorf("Verify(current file alone) = %v; it starts with a signed open checkpoint", err)
	}
	if _, err := verify(pub, true, [2]string{"audit.log.1", string(old)}); err != nil {
		t.Errorf("Verify(old file alone, open tail allowed) = %v", err)
	}
	_, err := verify(pub, false, [2]string{"audit.log", string(cur)}, [2]string{"audit.log.1", string(old)})
	var pr *audit.Problem
	if !errors.As(err, &pr) || pr.File != "audit.log.1" || pr.Line != 1 {
		t.Errorf("Verify(wrong order) = %v, want audit.log.1:1", err)
	}
	// A line deleted at the head of the new file is caught there.
	curLines := strings.SplitAfter(strings.TrimSuffix(string(cur), "\n"), "\n")
	_, err = verify(pub, false, [2]string{"audit.log.1", string(old)}, [2]string{"audit.log", join(curLines[1:])})
	if !errors.As(err, &pr) || pr.File != "audit.log" || pr.Line != 1 {
		t.Errorf("Verify(head deleted) = %v, want audit.log:1", err)
	}
}

// A restarted broker continues the chain in the same file.
func TestVerifyAcrossRestart(t *testing.T) {
	view := newBroker(t, audit.Options{})
	p := logPath(t)
	view.enable(t, "file", "file", map[string]string{"file_path": p})
	pub := view.publicKey(t, "file")
	view.traffic(t, 3)
	view.Close()
	b2, err := audit.New(t.Context(), view.view, nil, audit.Options{Dir: os.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	(&testBroker{b2, view.view}).traffic(t, 3)
	b2.Close()
	raw, _ := os.ReadFile(p)
	rep, err := verify(pub, false, [2]string{"audit.log", string(raw)})
	if err != nil || rep.Entries != 12 {
		t.Errorf("Verify after restart = %+v, %v; want 12 entries", rep, err)
	}
}

// FuzzVerify: Verify never panics, and a tampered log either fails, or is
// the intact log, or is a prefix of it ending at a signed checkpoint (a
// truncation at a checkpoint is undetectable offline; see docs/audit.md).
// The input is a short program of edits (tamper) applied to the golden
// log, and is also verified as a log itself. Inputs stay a few bytes long:
// the fuzzer minimises every interesting input byte by byte, and with the
// 5 KB golden log as the input it spent minutes minimising and reported a
// few execs/s.
func FuzzVerify(f *testing.F) {
	raw, err := os.ReadFile(goldenLog)
	if err != nil {
		f.Fatal(err)
	}
	intact := string(raw)
	lines := strings.SplitAfter(strings.TrimSuffix(intact, "\n"), "\n")
	pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32)).Public().(ed25519.PublicKey)
	f.Add([]byte{})                      // intact
	f.Add([]byte{opTruncateLines, 4, 0}) // ends at a checkpoint
	f.Add([]byte{opTruncateLines, 5, 0}) // open tail
	f.Add([]byte{opDelete, 6, 0})        // deleted entry
	f.Add([]byte{opSwap, 1, 2})          // reordered
	f.Add([]byte{opDuplicate, 3, 7})     // duplicated checkpoint
	f.Add([]byte{opFlip, 2, 40, 0x20})   // edited byte
	f.Add([]byte{opCut, 9, 100})         // cut mid line
	f.Add([]byte{opInsert, 0, 0, '\n'})  // inserted byte
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, prog []byte) {
		checkMutation(t, intact, pub, prog) // the input as a log of its own
		checkMutation(t, intact, pub, []byte(tamper(lines, prog)))
	})
}

// Edit operations of FuzzVerify's programs: an opcode and two operands,
// plus a byte for opFlip and opInsert.
const (
	opTruncateLines = iota // keep the first a lines
	opDelete               // delete line a
	opSwap                 // swap lines a and b
	opDuplicate            // insert a copy of line a before line b
	opFlip                 // xor byte b of line a with the next byte
	opCut                  // cut the log at byte a*256+b
	opInsert               // insert the next byte at byte b of line a
	numOps
)

// tamper applies prog to a copy of lines and returns the log.
func tamper(lines []string, prog []byte) string {
	ls := append([]string(nil), lines...)
	for len(prog) >= 3 {
		op, a, b := prog[0]%numOps, int(prog[1]), int(prog[2])
		prog = prog[3:]
		if len(ls) == 0 {
			break
		}
		i, j := a%len(ls), b%len(ls)
		switch op {
		case opTruncateLines:
			ls = ls[:a%(len(ls)+1)]
		case opDelete:
			ls = append(ls[:i], ls[i+1:]...)
		case opSwap:
			ls[i], ls[j] = ls[j], ls[i]
		case opDuplicate:
			ls = append(ls[:j], append([]string{ls[i]}, ls[j:]...)...)
		case opFlip, opInsert:
			if len(prog) == 0 {
				break
			}
			x := prog[0]
			prog = prog[1:]
			l := []byte(ls[i])
			k := b % len(l)
			if op == opFlip {
				l[k] ^= x
			} else {
				l = append(l[:k], append([]byte{x}, l[k:]...)...)
			}
			ls[i] = string(l)
		case opCut:
			s := strings.Join(ls, "")
			return s[:(a*256+b)%(len(s)+1)]
		}
	}
	return strings.Join(ls, "")
}

func checkMutation(t *testing.T, intact string, pub ed25519.PublicKey, data []byte) {
	t.Helper()
	_, err := audit.Verify([]audit.Input{{Name: "f", R: bytes.NewReader(data)}}, audit.VerifyOptions{PublicKey: pub})
	if err != nil {
		return
	}
	if !strings.HasPrefix(intact, string(data)) {
		t.Fatalf("mutated log verified:\n%s", data)
	}
	last := strings.TrimSuffix(string(data), "\n")
	last = last[strings.LastIndexByte(last, '\n')+1:]
	if !strings.Contains(last, `"type":"checkpoint"`) {
		t.Fatalf("truncated log not ending at a checkpoint verified:\n%s", data)
	}
}

// TestVerifyRandomMutations applies the fuzz property to seeded random
// byte flips, deletions and truncations of the golden log.
func TestVerifyRandomMutations(t *testing.T) {
	raw, err := os.ReadFile(goldenLog)
	if err != nil {
		t.Fatal(err)
	}
	pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32)).Public().(ed25519.PublicKey)
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		d := bytes.Clone(raw)
		for k := 0; k < 1+r.IntN(4) && len(d) > 1; k++ {
			j := r.IntN(len(d))
			switch r.IntN(3) {
			case 0:
				d[j] ^= byte(1 + r.IntN(255))
			case 1:
				d = append(d[:j], d[j+1:]...)
			default:
				d = d[:j]
			}
		}
		checkMutation(t, string(raw), pub, d)
	}
}

var update = flag.Bool("update", false, "rewrite golden files")

const goldenLog = "testdata/golden.log"

// TestGoldenLog pins the entry format: fixed keys and clock give a fixed
// log (go test ./internal/audit -update rewrites it; review the diff).
func TestGoldenLog(t *testing.T) {
	lines, pub := fixedLog(t, 4, 3)
	got := join(lines)
	if *update {
		if err := os.WriteFile(goldenLog, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenLog)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("log differs from %s (run with -update and review):\n%s", goldenLog, got)
	}
	if _, err := verify(pub, false, [2]string{"golden", got}); err != nil {
		t.Errorf("golden log does not verify: %v", err)
	}
}
