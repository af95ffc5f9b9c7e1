package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// sigMarker separates a checkpoint's signed prefix from its signature: the
// signature covers every byte of the line before it.
const sigMarker = `,"sig":"`

// chain is one device's position in its hash chain. It is not safe for
// concurrent use; the device serialises writes.
type chain struct {
	seq  uint64 // seq of the last line written
	prev string // hex SHA-256 of the last line written, "" before the first
}

// chainState is what is persisted between runs.
type chainState struct {
	Seq  uint64 `json:"seq"`
	Prev string `json:"prev"`
}

// seal finishes body (a JSON object without seq, prev or sig) as the next
// line of the chain: it returns the line with its newline, and the chain
// state once the line is written. It does not advance c.
func (c chain) seal(body []byte) (line []byte, next chain) {
	line = make([]byte, 0, len(body)+120)
	line = append(line, body[:len(body)-1]...) // drop "}"
	line = appendSeqPrev(line, c.seq+1, c.prev)
	line = append(line, '}')
	sum := sha256.Sum256(line)
	line = append(line, '\n')
	return line, chain{seq: c.seq + 1, prev: hex.EncodeToString(sum[:])}
}

// checkpoint builds the next line as a signed checkpoint.
func (c chain) checkpoint(now time.Time, reason string, key ed25519.PrivateKey) (line []byte, next chain) {
	body, _ := json.Marshal(struct {
		Time       string     `json:"time"`
		Type       string     `json:"type"`
		Checkpoint Checkpoint `json:"checkpoint"`
	}{now.UTC().Format(time.RFC3339Nano), "checkpoint", Checkpoint{Reason: reason}})
	line = make([]byte, 0, len(body)+220)
	line = append(line, body[:len(body)-1]...)
	line = appendSeqPrev(line, c.seq+1, c.prev)
	sig := ed25519.Sign(key, line)
	line = append(line, sigMarker...)
	line = base64.StdEncoding.AppendEncode(line, sig)
	line = append(line, '"', '}')
	sum := sha256.Sum256(line)
	line = append(line, '\n')
	return line, chain{seq: c.seq + 1, prev: hex.EncodeToString(sum[:])}
}

func appendSeqPrev(b []byte, seq uint64, prev string) []byte {
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"prev":"`...)
	b = append(b, prev...)
	return append(b, '"')
}

// errBadSignature means a checkpoint's signature does not verify.
var errBadSignature = errors.New("checkpoint signature does not verify")

// checkSignature verifies a checkpoint line (without its newline).
func checkSignature(line []byte, pub ed25519.PublicKey) error {
	i := bytes.LastIndex(line, []byte(sigMarker))
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) || i+len(sigMarker) > len(line)-2 {
		return errors.New("checkpoint has no signature")
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(string(line[i+len(sigMarker) : len(line)-2]))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("checkpoint signature is malformed")
	}
	if !ed25519.Verify(pub, line[:i], sig) {
		return errBadSignature
	}
	return nil
}

// lineHash is the chain hash of a line without its newline.
func lineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}
