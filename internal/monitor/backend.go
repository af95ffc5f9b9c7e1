package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Backend serves sys/metrics (path relative to sys/) from a registry: the
// Prometheus text format with format=prometheus, Vault's JSON shape
// otherwise. The core authorizes the read like any other; the backend
// holds nothing but the registry.
type Backend struct {
	*logical.Router
	r *Registry
}

// NewBackend returns the sys/metrics backend of r.
func NewBackend(r *Registry) *Backend {
	b := &Backend{r: r}
	b.Router = logical.NewRouter(backendHelp, logical.Route{
		Pattern:  "metrics",
		Ops:      map[logical.Operation]logical.Handler{logical.ReadOperation: b.read},
		Synopsis: "Report the server's metrics.",
		Fields:   logical.Fields{{Name: "format", Description: "prometheus for the Prometheus text format, json (the default) otherwise."}},
	})
	return b
}

const backendHelp = `sys/metrics reports the server's counters, gauges and histograms, in the
Prometheus text format or as JSON shaped like Vault's.`

// Close implements the core's service contract; there is nothing to stop.
func (b *Backend) Close() error { return nil }

func (b *Backend) read(_ context.Context, req *logical.Request, _ logical.Params) (*logical.Response, error) {
	format, _, err := logical.Str(req.Data, "format")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	switch format {
	case "prometheus":
		if err := b.r.WritePrometheus(&buf); err != nil {
			return nil, err
		}
		return &logical.Response{Raw: buf.Bytes(), ContentType: "text/plain; version=0.0.4", Status: http.StatusOK}, nil
	case "", "json":
		mfs, err := b.r.Gather()
		if err != nil {
			return nil, err
		}
		if err := json.NewEncoder(&buf).Encode(ToJSON(mfs, time.Now())); err != nil {
			return nil, fmt.Errorf("monitor: encode json: %w", err)
		}
		return &logical.Response{Raw: buf.Bytes(), ContentType: "application/json", Status: http.StatusOK}, nil
	}
	return nil, logical.BadRequest("format must be prometheus or json")
}
