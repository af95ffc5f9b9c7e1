package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Event is one access event from sys/events/subscribe: who did what to
// which path, from where, and how it ended. It never holds a secret value,
// a token or request data.
type Event struct {
	Seq        uint64        `json:"seq"`
	Time       time.Time     `json:"time"`
	Type       string        `json:"type"` // request or login
	RequestID  string        `json:"request_id,omitempty"`
	Identity   EventIdentity `json:"identity"`
	Operation  string        `json:"operation"`
	Mount      string        `json:"mount,omitempty"`
	MountType  string        `json:"mount_type,omitempty"`
	Path       string        `json:"path"`
	RemoteAddr string        `json:"remote_addr,omitempty"`
	Result     string        `json:"result"` // ok, denied or error
	Status     int           `json:"status"`
	LeaseIDs   []string      `json:"lease_ids,omitempty"`
}

// EventIdentity is the caller of an Event.
type EventIdentity struct {
	EntityID    string            `json:"entity_id,omitempty"`
	Accessor    string            `json:"accessor,omitempty"`
	AuthMount   string            `json:"auth_mount,omitempty"`
	AuthType    string            `json:"auth_type,omitempty"`
	Role        string            `json:"role,omitempty"`
	DisplayName string            `json:"display_name,omitempty"`
	Root        bool              `json:"root,omitempty"`
	Claims      map[string]string `json:"claims,omitempty"`
}

// ErrStreamEnded is returned by SubscribeEvents when the server ended the
// stream (it sealed, or the subscriber fell behind); the error says why.
var ErrStreamEnded = errors.New("event stream ended by the server")

// SubscribeEvents streams sys/events/subscribe (needs read and sudo on
// that path), filtered by path patterns and event types (comma-separated,
// "" for all), first replaying the matching events the server still holds
// when replay is set, and calls fn with each event until ctx ends (nil is
// returned), the server ends the stream (ErrStreamEnded), or fn fails
// (its error). The client's request timeout must be off for a long
// stream.
func (c *Client) SubscribeEvents(ctx context.Context, path, types string, replay bool, fn func(*Event) error) error {
	q := url.Values{}
	if replay {
		q.Set("replay", "true")
	}
	if path != "" {
		q.Set("path", path)
	}
	if types != "" {
		q.Set("type", types)
	}
	p := &sseParser{fn: fn}
	_, err := c.Do(ctx, &Request{Method: http.MethodGet, Path: "sys/events/subscribe", Query: q}, p)
	switch {
	case p.fnErr != nil:
		return p.fnErr
	case ctx.Err() != nil:
		return nil
	case err != nil:
		return err
	case p.end != "":
		return fmt.Errorf("%w: %s", ErrStreamEnded, p.end)
	}
	return ErrStreamEnded
}

// sseParser reads text/event-stream as it arrives (an io.Writer for Do).
type sseParser struct {
	fn    func(*Event) error
	buf   []byte
	kind  string
	end   string
	fnErr error
}

func (p *sseParser) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSuffix(string(p.buf[:i]), "\r")
		p.buf = p.buf[i+1:]
		if err := p.line(line); err != nil {
			return 0, err
		}
	}
	if len(p.buf) > 1<<20 {
		return 0, errors.New("event stream: line too long")
	}
	return len(b), nil
}

func (p *sseParser) line(line string) error {
	switch {
	case line == "":
		p.kind = ""
	case strings.HasPrefix(line, "event: "):
		p.kind = strings.TrimPrefix(line, "event: ")
	case strings.HasPrefix(line, "data: "):
		data := strings.TrimPrefix(line, "data: ")
		if p.kind == "end" {
			var e struct {
				Reason string `json:"reason"`
			}
			_ = json.Unmarshal([]byte(data), &e)
			p.end = e.Reason
			return nil
		}
		var e Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return fmt.Errorf("event stream: decode event: %w", err)
		}
		if err := p.fn(&e); err != nil {
			p.fnErr = err
			return err
		}
	}
	return nil
}
