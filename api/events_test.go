package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestSubscribeEvents(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/sys/events/subscribe" || r.URL.Query().Get("path") != "secret/*" ||
			r.URL.Query().Get("replay") != "true" || r.Header.Get("X-Vault-Token") != "tok" {
			http.Error(w, `{"errors":["bad request"]}`, 400)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": hello\n\nid: 1\nevent: request\ndata: {\"seq\":1,\"path\":\"secret/a\",\"result\":\"ok\"}\n\n")
		w.(http.Flusher).Flush()
		fmt.Fprint(w, "id: 2\r\nevent: login\r\ndata: {\"seq\":2,\"path\":\"auth/jwt/login\",\"identity\":{\"role\":\"r\"}}\r\n\r\n")
		fmt.Fprint(w, "event: end\ndata: {\"reason\":\"server sealed\"}\n\n")
	}))
	defer srv.Close()
	c, err := New(Config{Address: srv.URL, Token: NewToken("tok")})
	if err != nil {
		t.Fatal(err)
	}
	var got []Event
	err = c.SubscribeEvents(context.Background(), "secret/*", "", true, func(e *Event) error {
		got = append(got, *e)
		return nil
	})
	if !errors.Is(err, ErrStreamEnded) || err.Error() != "event stream ended by the server: server sealed" {
		t.Errorf("err = %v", err)
	}
	if len(got) != 2 || got[0].Path != "secret/a" || got[1].Identity.Role != "r" || got[1].Seq != 2 {
		t.Errorf("events = %+v", got)
	}
	stop := errors.New("stop")
	if err := c.SubscribeEvents(context.Background(), "secret/*", "", true, func(*Event) error { return stop }); err != stop {
		t.Errorf("fn error: %v", err)
	}
}

// FuzzSSE: the stream parser never panics and gives the same events
// however the bytes are split into writes.
func FuzzSSE(f *testing.F) {
	f.Add([]byte("id: 1\nevent: request\ndata: {\"seq\":1,\"path\":\"a\"}\n\nevent: end\ndata: {\"reason\":\"x\"}\n\n"), uint8(3))
	f.Add([]byte("data: {\r\n\r\n: c\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		parse := func(n int) ([]Event, string, error) {
			var evs []Event
			p := &sseParser{fn: func(e *Event) error { evs = append(evs, *e); return nil }}
			for b := data; len(b) > 0; b = b[min(n, len(b)):] {
				if _, err := p.Write(b[:min(n, len(b))]); err != nil {
					return evs, p.end, err
				}
			}
			return evs, p.end, nil
		}
		whole, wend, werr := parse(len(data) + 1)
		split, send, serr := parse(int(chunk) + 1)
		if (werr == nil) != (serr == nil) || wend != send || !reflect.DeepEqual(whole, split) {
			t.Errorf("split into %d-byte writes: %v %q %v, whole: %v %q %v", int(chunk)+1, split, send, serr, whole, wend, werr)
		}
	})
}
