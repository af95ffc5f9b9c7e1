package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Heartbeat is how often an idle event stream gets an SSE comment, so
// proxies keep it open and a gone client is noticed.
const Heartbeat = 15 * time.Second

// Backend serves sys/events/subscribe (paths relative to sys/) from a
// hub. The route needs sudo: reading the stream shows who accesses what
// across the whole server.
type Backend struct {
	*logical.Router
	hub *Hub
}

// NewBackend returns the service backend of hub. Close detaches the hub.
func NewBackend(hub *Hub) *Backend {
	b := &Backend{hub: hub}
	routes := []logical.Route{{
		Pattern:  "events/subscribe",
		Ops:      map[logical.Operation]logical.Handler{logical.ReadOperation: b.subscribe},
		Sudo:     true,
		Synopsis: "Stream access events as server-sent events.",
		Description: "Each event is one request outcome (identity, operation, path, source, result), " +
			"never a secret value, token or request data. The stream ends when the client goes, " +
			"when it falls too far behind, or when the server seals.",
		Fields: subscribeFields,
	}}
	if en := hub.Engine(); en != nil {
		routes = append(routes, alertRoutes(en)...)
	}
	b.Router = logical.NewRouter(backendHelp, routes...)
	return b
}

var subscribeFields = logical.Fields{
	{Name: "path", Description: "Comma-separated path patterns: a final * matches any suffix, + one segment."},
	{Name: "type", Description: "Comma-separated event types: request, login."},
	{Name: "replay", Description: "true to send the matching events still in the ring first."},
}

const backendHelp = `sys/events/subscribe streams the server's access events (text/event-stream).`

// Close implements the core's service contract: the hub detaches,
// flushing baselines and ending every subscription.
func (b *Backend) Close() error {
	if en := b.hub.Engine(); en != nil {
		en.Detach()
	}
	return b.hub.Detach(context.Background())
}

// ParseFilter reads the path and type parameters (comma-separated lists).
func ParseFilter(path, types string) (Filter, error) {
	var f Filter
	for _, p := range splitList(path) {
		if strings.Contains(strings.TrimSuffix(p, "*"), "*") {
			return Filter{}, fmt.Errorf("path %q: * is allowed only at the end", p)
		}
		f.Paths = append(f.Paths, strings.TrimPrefix(p, "/"))
	}
	for _, t := range splitList(types) {
		if t != TypeRequest && t != TypeLogin {
			return Filter{}, fmt.Errorf("type %q: want request or login", t)
		}
		f.Types = append(f.Types, t)
	}
	return f, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (b *Backend) subscribe(ctx context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	if err := subscribeFields.Unknown(req.Data); err != nil {
		return nil, err
	}
	path, _, err := logical.Str(req.Data, "path")
	if err != nil {
		return nil, err
	}
	types, _, err := logical.Str(req.Data, "type")
	if err != nil {
		return nil, err
	}
	replay, _, err := logical.Bool(req.Data, "replay")
	if err != nil {
		return nil, err
	}
	f, err := ParseFilter(path, types)
	if err != nil {
		return nil, logical.BadRequest("%s", err)
	}
	// Subscribe now, so no event after this request is missed; the stream
	// runs once the pipeline has audited the request. The ring is read
	// after subscribing, so an event is in the replay, the queue or both
	// (WriteSSE skips the second copy by Seq).
	sub := b.hub.Subscribe(f)
	var past []Event
	if replay {
		for _, e := range b.hub.Ring().Snapshot() {
			if f.Match(&e) {
				past = append(past, e)
			}
		}
	}
	return &logical.Response{Status: http.StatusOK, ContentType: "text/event-stream", Stream: func(w io.Writer) error {
		defer b.hub.Unsubscribe(sub)
		return WriteSSE(ctx, w, sub, past)
	}}, nil
}

// WriteSSE writes past and then sub's events to w as server-sent events
// (skipping queued events already in past), flushing after
// each (when w has Flush() error, as http.ResponseController does), until
// ctx ends, the subscription ends, or a write fails. Each event is
// "id: SEQ", "event: TYPE" and one "data:" line of JSON. When the
// subscription is dropped a final "event: end" tells why.
func WriteSSE(ctx context.Context, w io.Writer, sub *Subscription, past []Event) error {
	flush := func() error { return nil }
	if f, ok := w.(interface{ Flush() error }); ok {
		flush = f.Flush
	}
	if _, err := io.WriteString(w, ": keyward access events\n\n"); err != nil {
		return nil // the client left: nothing to report
	}
	if err := flush(); err != nil {
		return nil
	}
	var buf []byte
	var seen uint64
	for i := range past {
		if writeEvent(w, &buf, &past[i]) != nil {
			return nil
		}
		seen = past[i].Seq
	}
	if flush() != nil {
		return nil
	}
	tick := time.NewTicker(Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Done():
			// Events already queued are still delivered before the end.
		drain:
			for {
				select {
				case e := <-sub.C():
					if e.Seq > seen && writeEvent(w, &buf, &e) != nil {
						return nil
					}
				default:
					break drain
				}
			}
			fmt.Fprintf(w, "event: end\ndata: {\"reason\":%q}\n\n", sub.Reason())
			_ = flush()
			return nil
		case <-tick.C:
			if _, err := io.WriteString(w, ": keepalive\n\n"); err != nil {
				return nil
			}
			if flush() != nil {
				return nil
			}
		case e := <-sub.C():
			if e.Seq <= seen {
				continue
			}
			if writeEvent(w, &buf, &e) != nil || flush() != nil {
				return nil
			}
		}
	}
}

func writeEvent(w io.Writer, buf *[]byte, e *Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b := (*buf)[:0]
	b = fmt.Appendf(b, "id: %d\nevent: %s\ndata: ", e.Seq, e.Type)
	b = append(b, data...)
	b = append(b, '\n', '\n')
	*buf = b
	_, err = w.Write(b)
	return err
}
