package audit

import (
	"bufio"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// VerifyOptions tunes Verify.
type VerifyOptions struct {
	// PublicKey is the device's checkpoint key (sys/audit/NAME/public-key).
	PublicKey ed25519.PublicKey
	// AllowOpenTail accepts entries after the last signed checkpoint (a
	// log still being written). They are verified by the chain only, so a
	// truncation of that tail cannot be detected.
	AllowOpenTail bool
}

// Input is one log file, given oldest first ("audit.log.1" before
// "audit.log").
type Input struct {
	Name string
	R    io.Reader
}

// Position names a line: File as given in Input.Name, Line from 1.
type Position struct {
	File string
	Line int
}

func (p Position) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Problem kinds.
const (
	KindMalformed  = "malformed"
	KindEdited     = "edited"
	KindDeleted    = "deleted"
	KindInserted   = "inserted"
	KindReordered  = "reordered"
	KindDuplicated = "duplicated"
	KindTruncated  = "truncated"
	KindOpenTail   = "unverified tail"
)

// Problem is the first line where a log fails verification.
type Problem struct {
	Position
	Kind string
	Msg  string
}

func (p *Problem) Error() string { return fmt.Sprintf("%s: %s: %s", p.Position, p.Kind, p.Msg) }

// Report summarises a verified log.
type Report struct {
	Files   int
	Lines   int
	Entries int // request and response entries
	// LastCheckpoint is the last signed checkpoint.
	LastCheckpoint Position
	// OpenTail counts the lines after it (only with AllowOpenTail).
	OpenTail int
}

// maxLine bounds one log line.
const maxLine = 16 << 20

// recentWindow is how many recent line hashes are kept to tell duplicates
// from reordering.
const recentWindow = 4096

type line struct {
	pos        Position
	raw        []byte // without newline
	hash       string
	seq        uint64
	prev       string
	typ        string
	reason     string
	terminated bool
	parseErr   error
}

// lines iterates over the lines of several inputs with one line of
// lookahead.
type lines struct {
	inputs []Input
	i      int
	r      *bufio.Reader
	n      int
	peeked *line
}

func (it *lines) read() (*line, error) {
	for {
		if it.r == nil {
			if it.i >= len(it.inputs) {
				return nil, io.EOF
			}
			it.r = bufio.NewReaderSize(it.inputs[it.i].R, 64<<10)
			it.n = 0
		}
		raw, err := it.r.ReadSlice('\n')
		var buf []byte
		for errors.Is(err, bufio.ErrBufferFull) {
			buf = append(buf, raw...)
			if len(buf) > maxLine {
				return nil, &Problem{Position{it.inputs[it.i].Name, it.n + 1}, KindMalformed, "line is too long"}
			}
			raw, err = it.r.ReadSlice('\n')
		}
		if buf != nil {
			raw = append(buf, raw...)
		} else {
			raw = append([]byte(nil), raw...)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %s: %w", it.inputs[it.i].Name, err)
		}
		if len(raw) == 0 && errors.Is(err, io.EOF) {
			it.r = nil
			it.i++
			continue
		}
		it.n++
		l := &line{pos: Position{it.inputs[it.i].Name, it.n}}
		if raw[len(raw)-1] == '\n' {
			l.terminated = true
			raw = raw[:len(raw)-1]
		}
		l.raw = raw
		l.hash = lineHash(raw)
		var v struct {
			Type       string      `json:"type"`
			Seq        *uint64     `json:"seq"`
			Prev       *string     `json:"prev"`
			Checkpoint *Checkpoint `json:"checkpoint"`
		}
		switch err := json.Unmarshal(raw, &v); {
		case err != nil:
			l.parseErr = errors.New("not a JSON object")
		case v.Seq == nil || v.Prev == nil:
			l.parseErr = errors.New("no seq or prev field")
		default:
			l.seq, l.prev, l.typ = *v.Seq, *v.Prev, v.Type
			if v.Checkpoint != nil {
				l.reason = v.Checkpoint.Reason
			}
			switch l.typ {
			case "request", "response":
			case "checkpoint":
				if v.Checkpoint == nil {
					l.parseErr = errors.New("checkpoint without reason")
				}
			default:
				l.parseErr = fmt.Errorf("unknown entry type %q", l.typ)
			}
		}
		return l, nil
	}
}

func (it *lines) next() (*line, error) {
	if it.peeked != nil {
		l := it.peeked
		it.peeked = nil
		return l, nil
	}
	return it.read()
}

// peek returns the next line without consuming it, or nil.
func (it *lines) peek() *line {
	if it.peeked == nil {
		l, err := it.read()
		if err != nil {
			return nil
		}
		it.peeked = l
	}
	if it.peeked.parseErr != nil {
		return nil
	}
	return it.peeked
}

// Verify checks the hash chain and checkpoint signatures of the inputs,
// read in order as one log. It returns a *Problem naming the first bad line,
// or an error reading an input.
func Verify(inputs []Input, opts VerifyOptions) (Report, error) {
	var rep Report
	rep.Files = len(inputs)
	if len(opts.PublicKey) != ed25519.PublicKeySize {
		return rep, errors.New("verify: a public key of 32 bytes is required")
	}
	it := &lines{inputs: inputs}
	var prev *line
	var prevPrevHash string
	recent := map[string]Position{}
	var order []string
	var lastCP *line
	for {
		l, err := it.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rep, err
		}
		rep.Lines++
		if !l.terminated {
			return rep, &Problem{l.pos, KindTruncated, "the last line is incomplete"}
		}
		if l.parseErr != nil {
			return rep, &Problem{l.pos, KindMalformed, l.parseErr.Error()}
		}
		if l.typ == "checkpoint" {
			if err := checkSignature(l.raw, opts.PublicKey); err != nil {
				return rep, &Problem{l.pos, KindEdited, err.Error()}
			}
		}
		if prev == nil {
			if !(l.seq == 1 && l.prev == "") && !(l.typ == "checkpoint" && l.reason == "open") {
				return rep, &Problem{l.pos, KindDeleted, fmt.Sprintf("the log starts at seq %d without a signed open checkpoint: earlier entries were removed (give rotated files oldest first)", l.seq)}
			}
		} else if p := chainProblem(it, prev, prevPrevHash, l, recent); p != nil {
			return rep, p
		}
		if l.typ == "checkpoint" {
			lastCP = l
		} else {
			rep.Entries++
		}
		if _, dup := recent[l.hash]; !dup {
			recent[l.hash] = l.pos
			order = append(order, l.hash)
			if len(order) > recentWindow {
				delete(recent, order[0])
				order = order[1:]
			}
		}
		if prev != nil {
			prevPrevHash = prev.hash
		}
		prev = l
	}
	if prev == nil {
		return rep, &Problem{Position{name(inputs), 0}, KindTruncated, "the log holds no entries"}
	}
	if lastCP != nil {
		rep.LastCheckpoint = lastCP.pos
	}
	if prev.typ != "checkpoint" {
		tail := int(prev.seq)
		first := "the start of the log"
		if lastCP != nil {
			tail = int(prev.seq - lastCP.seq)
			first = "the last signed checkpoint at " + lastCP.pos.String()
		}
		rep.OpenTail = tail
		if !opts.AllowOpenTail {
			return rep, &Problem{prev.pos, KindOpenTail, fmt.Sprintf("%d entries after %s are not signed: the log was truncated, or its device has not been closed yet (--allow-open-tail accepts them, verified by the chain only)", tail, first)}
		}
	}
	return rep, nil
}

func name(inputs []Input) string {
	if len(inputs) == 0 {
		return "(no input)"
	}
	return inputs[len(inputs)-1].Name
}

// chainProblem checks l against its predecessor and names the first bad
// line, using one line of lookahead to tell the kinds apart.
func chainProblem(it *lines, prev *line, prevPrevHash string, l *line, recent map[string]Position) *Problem {
	want := prev.seq + 1
	switch {
	case l.seq == want && l.prev == prev.hash:
		return nil
	case l.seq == want && prev.typ == "checkpoint":
		return &Problem{l.pos, KindEdited, fmt.Sprintf("prev does not match the signed checkpoint at %s", prev.pos)}
	case l.seq == want:
		// Either prev was edited, or l was inserted and the next line
		// still chains to prev.
		if n := it.peek(); n != nil && n.seq == l.seq && n.prev == prev.hash {
			return &Problem{l.pos, KindInserted, fmt.Sprintf("this line claims seq %d but does not chain to %s, and the next line does", l.seq, prev.pos)}
		}
		return &Problem{prev.pos, KindEdited, fmt.Sprintf("this line does not match the hash recorded for it by %s", l.pos)}
	case l.seq <= prev.seq:
		if at, ok := recent[l.hash]; ok {
			return &Problem{l.pos, KindDuplicated, fmt.Sprintf("this line repeats %s (seq %d)", at, l.seq)}
		}
		if l.seq == prev.seq && l.prev == prevPrevHash {
			// Two lines claim the same place in the chain: the one the
			// next line does not chain to was inserted.
			if n := it.peek(); n != nil && n.prev == l.hash {
				return &Problem{prev.pos, KindInserted, fmt.Sprintf("this line and %s both claim seq %d, and the chain continues from %s", l.pos, l.seq, l.pos)}
			}
			return &Problem{l.pos, KindInserted, fmt.Sprintf("this line and %s both claim seq %d", prev.pos, l.seq)}
		}
		return &Problem{l.pos, KindReordered, fmt.Sprintf("seq %d appears after seq %d", l.seq, prev.seq)}
	default: // l.seq > want
		if n := it.peek(); n != nil && n.seq == want {
			return &Problem{l.pos, KindReordered, fmt.Sprintf("seq %d appears before seq %d", l.seq, want)}
		}
		return &Problem{l.pos, KindDeleted, fmt.Sprintf("seq jumps from %d to %d: %d entries are missing before this line", prev.seq, l.seq, l.seq-want)}
	}
}
