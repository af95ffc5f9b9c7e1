package sink_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/watch/sink"
)

// verify is the receiver code of docs/watch.md (Webhook), verbatim.
func docVerify(key []byte, r *http.Request, body []byte) bool {
	ts := r.Header.Get("X-Keyward-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || math.Abs(time.Since(time.Unix(sec, 0)).Seconds()) > 300 {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := "v1=" + hex.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(want), []byte(r.Header.Get("X-Keyward-Signature")))
}

// A webhook receiver checks the signature with the sink's secret over the
// timestamp and the raw body.
func ExampleSign() {
	key := []byte("0123456789abcdef-example")
	body := []byte(`{"version":1}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	r := httptest.NewRequest(http.MethodPost, "/alerts", bytes.NewReader(body))
	r.Header.Set(sink.HeaderTimestamp, ts)
	r.Header.Set(sink.HeaderSignature, sink.Sign(key, ts, body))
	fmt.Println(docVerify(key, r, body))
	fmt.Println(docVerify([]byte("another key entirely"), r, body))
	// Output:
	// true
	// false
}
