package secretref_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/secretref"
)

func rootClient(t *testing.T) *api.Client {
	t.Helper()
	n := nodetest.Start(t)
	c, err := api.New(api.Config{Address: n.URL, Token: api.NewToken(n.RootToken.Reveal())})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustWrite(t *testing.T, c *api.Client, path string, data map[string]any) {
	t.Helper()
	if _, err := c.Write(t.Context(), path, data); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

func TestResolveKV(t *testing.T) {
	t.Parallel()
	c := rootClient(t)
	mustWrite(t, c, "secret/data/app", map[string]any{"data": map[string]any{"api-key": "first-key-value", "port": 5432}})
	mustWrite(t, c, "secret/data/app", map[string]any{"data": map[string]any{"api-key": "second-key-value", "port": 5432, "obj": map[string]any{"a": "b"}}})
	mustWrite(t, c, "sys/mounts/kv1", map[string]any{"type": "kv", "options": map[string]any{"version": "1"}})
	mustWrite(t, c, "kv1/db", map[string]any{"password": "kv1-password"})
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "a.tmpl")
	if err := os.WriteFile(tmpl, []byte(`k={{ secret "secret/app#api-key@1" }} p={{ secret "kv1/db#password" }}`), 0o600); err != nil {
		t.Fatal(err)
	}
	plan := secretref.Plan{
		Env: []secretref.EnvRef{
			{Name: "API_KEY", Ref: secretref.Ref{Path: "secret/data/app", Field: "api-key"}}, // overrides env-from
			{Name: "OLD", Ref: secretref.Ref{Path: "secret/app", Field: "api-key", Version: 1}},
			{Name: "PORT2", Ref: secretref.Ref{Path: "secret/app", Field: "port"}},
			{Name: "OBJ", Ref: secretref.Ref{Path: "secret/app", Field: "obj"}},
		},
		EnvFrom:   []secretref.EnvFrom{{Ref: secretref.Ref{Path: "secret/app"}}},
		Files:     []secretref.FileRef{{Name: "db", Ref: secretref.Ref{Path: "kv1/db", Field: "password"}, Mode: 0o400}},
		Templates: []secretref.Template{{Source: tmpl, Dest: "a.conf"}},
	}
	res, err := secretref.Resolve(t.Context(), secretref.NewFetcher(c), plan)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range res.Spec.Env {
		got[e.Name] = e.Value.Reveal()
	}
	for _, f := range res.Spec.Files {
		got["file:"+f.Name] = f.Value.Reveal()
	}
	want := map[string]string{
		"API_KEY": "second-key-value", "OLD": "first-key-value", "PORT": "5432", "PORT2": "5432",
		"OBJ": `{"a":"b"}`, "file:db": "kv1-password", "file:a.conf": "k=first-key-value p=kv1-password",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d entries, want %d: %v", len(got), len(want), got)
	}
	names := map[string]bool{}
	for _, s := range res.Secrets {
		names[s.Name] = true
	}
	for _, n := range []string{"API_KEY", "OLD", "PORT", "db", "secret/app#api-key@1", "kv1/db#password"} {
		if !names[n] {
			t.Errorf("no mask secret named %s", n)
		}
	}
}

func TestResolveErrorsNameTheReference(t *testing.T) {
	t.Parallel()
	c := rootClient(t)
	const canary = "canary-Value-9f3a"
	mustWrite(t, c, "secret/data/app", map[string]any{"data": map[string]any{"k": canary, "ref": "secret/app#" + canary}})
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		plan secretref.Plan
		want string
	}{
		{"missing field", secretref.Plan{Env: []secretref.EnvRef{{Name: "A", Ref: secretref.Ref{Path: "secret/app", Field: "nope"}}}}, `env A: secret/app#nope: no field "nope" (fields: k, ref)`},
		{"missing secret", secretref.Plan{Files: []secretref.FileRef{{Name: "f", Ref: secretref.Ref{Path: "secret/none", Field: "k"}}}}, "file f: secret/none#k: no secret at secret/data/none"},
		{"missing version", secretref.Plan{Env: []secretref.EnvRef{{Name: "A", Ref: secretref.Ref{Path: "secret/app", Field: "k", Version: 5}}}}, "env A: secret/app#k@5:"},
		{"env-from collision", secretref.Plan{EnvFrom: []secretref.EnvFrom{{Ref: secretref.Ref{Path: "secret/app"}}, {Ref: secretref.Ref{Path: "secret/app"}}}}, "variable K comes from both"},
		{"value used as reference", secretref.Plan{Templates: []secretref.Template{{Source: write("a.tmpl", `{{ secret (secret "secret/app#ref") }}`), Dest: "a"}}}, "template"},
		{"value used as bad reference", secretref.Plan{Templates: []secretref.Template{{Source: write("b.tmpl", `{{ secret (printf "#%s" (secret "secret/app#k")) }}`), Dest: "b"}}}, "invalid reference computed by the template"},
		{"missing key", secretref.Plan{Templates: []secretref.Template{{Source: write("c.tmpl", `{{ .nope }}`), Dest: "c"}}}, "template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := secretref.Resolve(t.Context(), secretref.NewFetcher(c), tt.plan)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Resolve error = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), canary) {
				t.Fatalf("error leaks the value: %v", err)
			}
		})
	}
}

// leaseServer is a stand-in for a secrets engine with leases and a lease
// manager, which this server does not have yet: it hands out leases at
// database/creds/ro and records renewals and revocations.
type leaseServer struct {
	*httptest.Server
	mu          sync.Mutex
	reads       int
	renewed     chan string
	revoked     []string
	noLeaseMgr  bool
	selfRevoked bool
}

func newLeaseServer(t *testing.T, noLeaseMgr bool) *leaseServer {
	ls := &leaseServer{renewed: make(chan string, 16), noLeaseMgr: noLeaseMgr}
	ls.Server = httptest.NewServer(http.HandlerFunc(ls.serve))
	t.Cleanup(ls.Close)
	return ls
}

func (ls *leaseServer) serve(w http.ResponseWriter, r *http.Request) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	switch p := strings.TrimPrefix(r.URL.Path, "/v1/"); {
	case strings.HasPrefix(p, "sys/internal/ui/mounts/"):
		reply(http.StatusOK, map[string]any{"data": map[string]any{"path": "database/", "type": "database"}})
	case p == "database/creds/ro":
		ls.reads++
		reply(http.StatusOK, map[string]any{"lease_id": fmt.Sprintf("database/creds/ro/l%d", ls.reads), "lease_duration": 3, "renewable": true,
			"data": map[string]any{"username": "v-ro-user-1", "password": "dyn-Passw0rd-1"}})
	case p == "sys/leases/renew" && !ls.noLeaseMgr:
		ls.renewed <- body["lease_id"].(string)
		reply(http.StatusOK, map[string]any{"lease_id": body["lease_id"], "lease_duration": 3, "renewable": true})
	case p == "sys/leases/revoke" && !ls.noLeaseMgr:
		ls.revoked = append(ls.revoked, body["lease_id"].(string))
		w.WriteHeader(http.StatusNoContent)
	case p == "auth/token/lookup-self":
		reply(http.StatusOK, map[string]any{"data": map[string]any{"ttl": 0, "renewable": false}})
	case p == "auth/token/revoke-self":
		ls.selfRevoked = true
		w.WriteHeader(http.StatusNoContent)
	default:
		reply(http.StatusNotFound, map[string]any{"errors": []string{"unsupported path"}})
	}
}

func TestDynamicCredentialsOneLeasePerPath(t *testing.T) {
	t.Parallel()
	ls := newLeaseServer(t, false)
	c, err := api.New(api.Config{Address: ls.URL, Token: api.NewToken("job-token")})
	if err != nil {
		t.Fatal(err)
	}
	f := secretref.NewFetcher(c)
	res, err := secretref.Resolve(t.Context(), f, secretref.Plan{Env: []secretref.EnvRef{
		{Name: "U", Ref: secretref.Ref{Path: "database/creds/ro", Field: "username"}},
		{Name: "P", Ref: secretref.Ref{Path: "database/creds/ro", Field: "password"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Spec.Env[0].Value.Reveal() != "dyn-Passw0rd-1" || res.Spec.Env[1].Value.Reveal() != "v-ro-user-1" {
		t.Errorf("env = %v", res.Spec.Env)
	}
	leases := f.Leases()
	if ls.reads != 1 || len(leases) != 1 || leases[0].ID != "database/creds/ro/l1" || leases[0].TTL != 3*time.Second || !leases[0].Renewable {
		t.Fatalf("reads = %d, leases = %+v; want one read and one lease", ls.reads, leases)
	}

	// The lease is renewed in the background at 2/3 of its TTL.
	k := secretref.NewKeeper(c, leases, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { k.Renew(ctx); close(done) }()
	select {
	case id := <-ls.renewed:
		if id != "database/creds/ro/l1" {
			t.Errorf("renewed %q", id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("lease never renewed")
	}
	cancel()
	<-done

	if err := k.Revoke(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if len(ls.revoked) != 1 || ls.revoked[0] != "database/creds/ro/l1" || !ls.selfRevoked {
		t.Errorf("revoked = %v, self = %v", ls.revoked, ls.selfRevoked)
	}
}

func TestRevokeWithoutLeaseManager(t *testing.T) {
	t.Parallel()
	ls := newLeaseServer(t, true)
	c, err := api.New(api.Config{Address: ls.URL, Token: api.NewToken("job-token")})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	k := secretref.NewKeeper(c, []secretref.Lease{{ID: "database/creds/ro/x", Path: "database/creds/ro", TTL: time.Minute}}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err := k.Revoke(t.Context(), true); err != nil {
		t.Fatalf("Revoke = %v, want the missing lease manager reported, not an error", err)
	}
	if !strings.Contains(logs.String(), "no lease manager") || strings.Contains(logs.String(), "database/creds/ro/x") {
		t.Errorf("logs = %q: want a warning naming the path, not the lease id", logs.String())
	}
	if !ls.selfRevoked {
		t.Error("token not revoked")
	}
}

// notifying passes calls to the real client and reports successful token
// renewals.
type notifying struct {
	*api.Client
	renewed chan time.Duration
}

func (n notifying) RenewSelf(ctx context.Context, inc time.Duration) (time.Duration, error) {
	ttl, err := n.Client.RenewSelf(ctx, inc)
	if err == nil {
		n.renewed <- ttl
	}
	return ttl, err
}

func TestKeeperRenewsAndRevokesToken(t *testing.T) {
	t.Parallel()
	root := rootClient(t)
	s, err := root.Write(t.Context(), "auth/token/create", map[string]any{"ttl": "3s", "renewable": true, "policies": []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	job, err := api.New(api.Config{Address: root.Address(), Token: api.NewToken(s.Auth.ClientToken)})
	if err != nil {
		t.Fatal(err)
	}
	n := notifying{Client: job, renewed: make(chan time.Duration, 4)}
	k := secretref.NewKeeper(n, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { k.Renew(ctx); close(done) }()
	for range 2 { // renewed, and renewed again from the new TTL
		select {
		case ttl := <-n.renewed:
			if ttl <= 0 {
				t.Fatalf("renewal TTL %v", ttl)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("token never renewed")
		}
	}
	cancel()
	<-done
	if _, err := job.LookupSelf(t.Context()); err != nil {
		t.Fatalf("token dead after renewals: %v", err)
	}
	if err := k.Revoke(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if _, err := job.LookupSelf(t.Context()); !api.IsStatus(err, http.StatusForbidden) {
		t.Fatalf("lookup-self after revoke: %v, want 403", err)
	}
}
