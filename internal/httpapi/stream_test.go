package httpapi_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/logical"
)

func TestStreamedResponse(t *testing.T) {
	body := strings.Repeat("ciphertext page ", 64<<10) // 1 MiB, written in pieces
	var fail atomic.Bool
	a, _ := newAPI(t, func(*logical.Request) (*logical.Response, error) {
		return &logical.Response{ContentType: "application/octet-stream", Stream: func(w io.Writer) error {
			for i := 0; i < len(body); i += 32 << 10 {
				if _, err := io.WriteString(w, body[i:i+32<<10]); err != nil {
					return err
				}
				if fail.Load() && i > 0 {
					return errors.New("snapshot failed")
				}
			}
			return nil
		}}, nil
	})
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)

	get := func() (*http.Response, []byte, error) {
		resp, err := http.Get(srv.URL + "/v1/sys/storage/backup")
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	resp, got, err := get()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, []byte(body)) {
		t.Fatalf("GET = %v, %d bytes, %v; want 200 and the %d-byte body", resp.Status, len(got), err, len(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type = %q", ct)
	}

	// A failure after bytes went out cuts the connection: the client
	// sees an error, never a body that looks complete.
	fail.Store(true)
	if _, got, err := get(); err == nil {
		t.Errorf("GET of a failing stream = %d bytes, no error", len(got))
	}

	// HEAD gets the status and no body.
	fail.Store(false)
	hr := do(t, a, http.MethodHead, "/v1/sys/storage/backup", nil)
	if hr.Code != http.StatusOK || hr.Body.Len() != 0 {
		t.Errorf("HEAD = %d with %d bytes", hr.Code, hr.Body.Len())
	}
}
