package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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

// appendSealed appends body (a JSON object without seq, prev or sig) to dst
// as the next line of the chain, with its newline, and returns the chain
// state once the line is written. It does not advance c.
func (c chain) appendSealed(dst, body []byte) ([]byte, chain) {
	start := len(dst)
	dst = append(dst, body[:len(body)-1]...) // drop "}"
	dst = appendSeqPrev(dst, c.seq+1, c.prev)
	dst = append(dst, '}')
	sum := sha256.Sum256(dst[start:])
	dst = append(dst, '\n')
	return dst, chain{seq: c.seq + 1, prev: hex.EncodeToString(sum[:])}
}

// appendCheckpoint appends the next line as a signed checkpoint; device
// names the device ("" leaves it out).
func (c chain) appendCheckpoint(dst []byte, now time.Time, reason, device string, key ed25519.PrivateKey) ([]byte, chain) {
	start := len(dst)
	dst = append(dst, `{"time":`...)
	dst = appendTime(dst, now)
	dst = append(dst, `,"type":"checkpoint","checkpoint":{"reason":`...)
	dst = appendString(dst, reason)
	if device != "" {
		dst = append(dst, `,"device":`...)
		dst = appendString(dst, device)
	}
	dst = append(dst, '}')
	dst = appendSeqPrev(dst, c.seq+1, c.prev)
	sig := ed25519.Sign(key, dst[start:])
	dst = append(dst, sigMarker...)
	dst = base64.StdEncoding.AppendEncode(dst, sig)
	dst = append(dst, '"', '}')
	sum := sha256.Sum256(dst[start:])
	dst = append(dst, '\n')
	return dst, chain{seq: c.seq + 1, prev: hex.EncodeToString(sum[:])}
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
