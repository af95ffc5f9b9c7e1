package sink

import (
	"context"
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/watch"
)

// Backend serves sys/watch/sinks and sys/watch/dead-letters (paths
// relative to sys/) from a dispatcher. Every route needs sudo: a sink
// decides where security alerts go.
type Backend struct {
	*logical.Router
	d *Dispatcher
}

// NewBackend returns the service backend of d. Close detaches d.
func NewBackend(d *Dispatcher) *Backend {
	b := &Backend{d: d}
	ops := func(m map[logical.Operation]logical.Handler) map[logical.Operation]logical.Handler { return m }
	nameField := Fields[0]
	idField := logical.Field{Name: "id", InPath: true, Description: "The dead letter's id."}
	b.Router = logical.NewRouter(backendHelp,
		logical.Route{Pattern: "watch/sinks", Sudo: true, Ops: ops(map[logical.Operation]logical.Handler{logical.ListOperation: b.list}),
			Synopsis: "List the alert sinks."},
		logical.Route{Pattern: "watch/sinks/{name}/test", Sudo: true,
			Ops:      ops(map[logical.Operation]logical.Handler{logical.UpdateOperation: b.test}),
			Synopsis: "Send a test alert to a sink now (one try).",
			Fields:   logical.Fields{nameField, {Name: "severity", Description: "The test alert's severity.", Default: "info"}}},
		logical.Route{Pattern: "watch/sinks/{name}", Sudo: true, Exists: b.exists,
			Ops: ops(map[logical.Operation]logical.Handler{logical.ReadOperation: b.read, logical.CreateOperation: b.write,
				logical.UpdateOperation: b.write, logical.DeleteOperation: b.delete}),
			Synopsis:    "Create, read, update or delete an alert sink.",
			Description: "Secrets (the webhook's HMAC key, the SMTP password, a Slack webhook URL) are never returned: a read says secret_set.",
			Fields:      Fields},
		logical.Route{Pattern: "watch/deliveries/{id}", Sudo: true, Ops: ops(map[logical.Operation]logical.Handler{logical.ReadOperation: b.readOutcome}),
			Synopsis: "What became of an alert's deliveries: delivered_to, pending, failed (dead letters).",
			Fields:   logical.Fields{{Name: "id", InPath: true, Description: "The alert's id."}}},
		logical.Route{Pattern: "watch/dead-letters", Sudo: true, Ops: ops(map[logical.Operation]logical.Handler{logical.ListOperation: b.listDead}),
			Synopsis: "List the deliveries that failed for good, oldest first."},
		logical.Route{Pattern: "watch/dead-letters/{id}/retry", Sudo: true,
			Ops:      ops(map[logical.Operation]logical.Handler{logical.UpdateOperation: b.retryDead}),
			Synopsis: "Try a dead letter again now; it is removed once delivered.", Fields: logical.Fields{idField}},
		logical.Route{Pattern: "watch/dead-letters/{id}", Sudo: true,
			Ops:      ops(map[logical.Operation]logical.Handler{logical.ReadOperation: b.readDead, logical.DeleteOperation: b.deleteDead}),
			Synopsis: "Read or delete a dead letter.", Fields: logical.Fields{idField}},
	)
	return b
}

const backendHelp = `sys/watch/sinks/NAME say where alerts are delivered (webhook, slack, syslog,
smtp), from which severity, with what retries and escalation; deliveries that
fail for good are kept at sys/watch/dead-letters for inspection and retry.`

// Close implements the core's service contract: delivery stops.
func (b *Backend) Close() error {
	b.d.Detach()
	return nil
}

func (b *Backend) exists(_ context.Context, _ *logical.Request, p logical.Params) (bool, error) {
	c, err := b.d.Sink(p["name"])
	if err != nil {
		return false, err
	}
	return c != nil, nil
}

func (b *Backend) list(context.Context, *logical.Request, logical.Params) (*logical.Response, error) {
	names, err := b.d.Sinks()
	if err != nil {
		return nil, err
	}
	info := map[string]any{}
	for _, n := range names {
		if c, _ := b.d.Sink(n); c != nil {
			info[n] = map[string]any{"type": string(c.Type), "min_severity": c.MinSeverity.String(), "escalate_to": c.EscalateTo}
		}
	}
	return listResponse(names, info), nil
}

func (b *Backend) read(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	c, err := b.d.Sink(p["name"])
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, logical.Errorf(http.StatusNotFound, "no sink named %q", p["name"])
	}
	return &logical.Response{Data: c.Public()}, nil
}

func (b *Backend) write(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	prev, err := b.d.Sink(p["name"])
	if err != nil {
		return nil, err
	}
	c, err := Apply(p["name"], prev, req.Data)
	if err != nil {
		return nil, err
	}
	if err := b.d.PutSink(ctx, c); err != nil {
		return nil, err
	}
	var warn []string
	if c.Type == Webhook && strings.HasPrefix(strings.ToLower(c.URL), "http:") {
		warn = append(warn, "the webhook URL is plain http: alerts travel unencrypted (the signature still proves their origin)")
	}
	return &logical.Response{Warnings: warn}, nil
}

func (b *Backend) delete(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	if !ValidName(p["name"]) {
		return nil, logical.BadRequest("invalid sink name")
	}
	return nil, b.d.DeleteSink(ctx, p["name"])
}

func (b *Backend) test(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data, "severity"); err != nil {
		return nil, err
	}
	sevName, _, err := logical.Str(req.Data, "severity")
	if err != nil {
		return nil, err
	}
	sev := watch.SeverityInfo
	if sevName != "" {
		if sev, err = watch.ParseSeverity(sevName); err != nil {
			return nil, logical.BadRequest("severity: want info, low, medium, high or critical")
		}
	}
	id, err := b.d.Test(ctx, p["name"], sev)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"delivered": true, "delivery_id": id}}, nil
}

func (b *Backend) listDead(ctx context.Context, _ *logical.Request, _ logical.Params) (*logical.Response, error) {
	ids, err := b.d.DeadLetters()
	if err != nil {
		return nil, err
	}
	info := map[string]any{}
	for _, id := range ids {
		dl, err := b.d.DeadLetter(ctx, id)
		if err != nil {
			return nil, err
		}
		if dl != nil {
			info[id] = map[string]any{"sink": dl.Sink, "alert_id": dl.Delivery.Alert.ID, "rule": dl.Delivery.Alert.Rule,
				"severity": dl.Delivery.Alert.Severity.String(), "attempts": dl.Attempts, "error": dl.Error,
				"failed_at": dl.FailedAt.UTC().Format("2006-01-02T15:04:05.999999999Z07:00")}
		}
	}
	return listResponse(ids, info), nil
}

func (b *Backend) readDead(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	dl, err := b.d.DeadLetter(ctx, p["id"])
	if err != nil {
		return nil, err
	}
	if dl == nil {
		return nil, logical.Errorf(http.StatusNotFound, "no dead letter %q", p["id"])
	}
	return &logical.Response{Data: dl.Data()}, nil
}

func (b *Backend) deleteDead(ctx context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	return nil, b.d.DeleteDeadLetter(ctx, p["id"])
}

func (b *Backend) retryDead(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	if err := logical.UnknownFields(req.Data); err != nil {
		return nil, err
	}
	if err := b.d.RetryDeadLetter(ctx, p["id"]); err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"delivered": true}}, nil
}

// listResponse is keys with key_info; an empty list is only keys, which
// the HTTP layer answers with 404 as Vault does.
func listResponse(keys []string, info map[string]any) *logical.Response {
	if len(keys) == 0 {
		return &logical.Response{Data: map[string]any{"keys": keys}}
	}
	return &logical.Response{Data: map[string]any{"keys": keys, "key_info": info}}
}

func (b *Backend) readOutcome(_ context.Context, _ *logical.Request, p logical.Params) (*logical.Response, error) {
	oc, ok, err := b.d.Outcome(p["id"])
	if err != nil {
		return nil, logical.Errorf(http.StatusServiceUnavailable, "%s", err)
	}
	if !ok {
		return nil, nil
	}
	return &logical.Response{Data: oc.data()}, nil
}
