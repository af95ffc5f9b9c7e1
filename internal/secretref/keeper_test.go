package secretref_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/secretref"
)

// slowLookup holds LookupSelf until its context ends, then asks the real
// server with that context, the way a lookup still in flight when a short
// job exits fails.
type slowLookup struct {
	*api.Client
	started chan struct{}
}

func (s slowLookup) LookupSelf(ctx context.Context) (*api.TokenInfo, error) {
	close(s.started)
	<-ctx.Done()
	return s.Client.LookupSelf(ctx)
}

// recorder is a slog.Handler that keeps each record as "MSG k=v..." and
// signals every record on logged.
type recorder struct {
	mu     sync.Mutex
	lines  []string
	logged chan struct{}
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	r.mu.Lock()
	r.lines = append(r.lines, b.String())
	r.mu.Unlock()
	select {
	case r.logged <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// TestRenewQuietAtExit checks that Renew stays silent when the job ends
// while its first lookup is in flight, and still warns when the server
// really refuses the lookup.
func TestRenewQuietAtExit(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t)
	tests := []struct {
		name     string
		token    string
		slow     bool
		wantWarn string
	}{
		{name: "cancelled at exit", token: n.RootToken.Reveal(), slow: true},
		{name: "refused token", token: "kws_not-a-token-0123456789", wantWarn: "WARN cannot look up the token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := api.New(api.Config{Address: n.URL, Token: api.NewToken(tt.token)})
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{logged: make(chan struct{}, 1)}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var tc secretref.TokenClient = c
			if tt.slow {
				s := slowLookup{Client: c, started: make(chan struct{})}
				tc = s
				go func() { <-s.started; cancel() }() // the job ends now
			}
			done := make(chan struct{})
			go func() { secretref.NewKeeper(tc, nil, slog.New(rec)).Renew(ctx); close(done) }()
			if !tt.slow {
				// With nothing to renew, Renew waits for the job to end
				// after logging; end it once it logged.
				<-rec.logged
				cancel()
			}
			<-done
			got := rec.String()
			if tt.wantWarn == "" && got != "" {
				t.Errorf("logs = %q, want none", got)
			}
			if tt.wantWarn != "" && !strings.Contains(got, tt.wantWarn) {
				t.Errorf("logs = %q, want %q", got, tt.wantWarn)
			}
			if strings.Contains(got, tt.token) {
				t.Error("logs hold the token")
			}
		})
	}
}

// A job running with a batch token ends cleanly: its leases are revoked and
// the token, which cannot be revoked, is left to its TTL.
func TestRevokeWithBatchToken(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t)
	root := n.Client(t)
	s, err := root.Logical().Write("auth/token/create", map[string]any{"type": "batch", "ttl": "10m", "policies": []any{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	job, err := api.New(api.Config{Address: n.URL, Token: api.NewToken(s.Auth.ClientToken)})
	if err != nil {
		t.Fatal(err)
	}
	if err := secretref.NewKeeper(job, nil, nil).Revoke(t.Context(), true); err != nil {
		t.Fatalf("Revoke with a batch token: %v", err)
	}
}
