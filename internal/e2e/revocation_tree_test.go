package e2e_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/testsvc"
)

// call sends one request with token and decodes the JSON answer. A transport
// error (the server died) is returned, never fatal: callers race kill -9.
func call(addr, token, method, path string, body any) (int, map[string]any, error) {
	return callWith(client, addr, token, method, path, body)
}

// callWith is call with another HTTP client.
func callWith(hc *http.Client, addr, token, method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+addr+"/v1/"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("decode %s %s answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, out, nil
}

// mustCall is call for the setup phase, where every request must succeed.
func mustCall(t *testing.T, addr, token, method, path string, body any) map[string]any {
	t.Helper()
	status, out, err := call(addr, token, method, path, body)
	if err != nil || status/100 != 2 {
		t.Fatalf("%s %s: status %d, error %v, body %v", method, path, status, err, out)
	}
	return out
}

// treeState is what remains of the revoked tree on the server and in
// PostgreSQL.
type treeState struct {
	valid, pgUsers, leases int
	// entries counts the token entries left in the store (through their
	// accessors), valid or marked as being revoked.
	entries int
}

func (s treeState) clean(baseline int) bool {
	return s.valid == 0 && s.pgUsers == 0 && s.leases == 0 && s.entries == baseline
}

func tokenEntries(t *testing.T, addr string) int {
	t.Helper()
	status, out, err := call(addr, rootToken, "LIST", "auth/token/accessors", nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("list accessors: status %d, error %v", status, err)
	}
	data, _ := out["data"].(map[string]any)
	keys, _ := data["keys"].([]any)
	return len(keys)
}

func observe(t *testing.T, addr string, tokens []string, pg *pgx.Conn, prefix, role string) treeState {
	t.Helper()
	var st treeState
	for _, tok := range tokens {
		status, _, err := call(addr, tok, "GET", "auth/token/lookup-self", nil)
		if err != nil {
			t.Fatalf("lookup-self: %v", err)
		}
		switch status {
		case http.StatusForbidden:
		case http.StatusOK:
			st.valid++
		default:
			t.Fatalf("lookup-self: unexpected status %d", status)
		}
	}
	st.pgUsers = testsvc.PostgresRoles(t, pg, prefix)
	st.entries = tokenEntries(t, addr)
	status, out, err := call(addr, rootToken, "LIST", "sys/leases/lookup/database/creds/"+role+"/", nil)
	if err != nil {
		t.Fatalf("list leases: %v", err)
	}
	switch status {
	case http.StatusNotFound:
	case http.StatusOK:
		data, _ := out["data"].(map[string]any)
		keys, _ := data["keys"].([]any)
		st.leases = len(keys)
	default:
		t.Fatalf("list leases: status %d, body %v", status, out)
	}
	return st
}

// T16: a token tree whose revocation is cut by kill -9, several times, ends
// fully revoked after restart: no token of the tree is valid, no database
// user it leased survives and no lease is left.
func TestRevocationTreeSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	prefix := "kwt16" + strings.ToLower(rand.Text()[:6])
	pg := testsvc.Postgres(t)
	testsvc.DropPostgresRoles(t, pg, prefix)
	role := "r" + prefix
	dir := t.TempDir()
	s := startDev(t, dir)
	baseline := tokenEntries(t, s.addr)

	mustCall(t, s.addr, rootToken, "POST", "sys/mounts/database", map[string]any{"type": "database"})
	mustCall(t, s.addr, rootToken, "POST", "database/config/pg", map[string]any{
		"plugin_name":       "postgresql-database-plugin",
		"connection_url":    testsvc.PostgresURL,
		"username":          "postgres",
		"password":          "unused-trust-auth",
		"allowed_roles":     []string{role},
		"username_template": prefix + `-{{random 10}}`,
	})
	mustCall(t, s.addr, rootToken, "POST", "database/roles/"+role, map[string]any{
		"db_name": "pg", "default_ttl": "1h", "max_ttl": "2h",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`},
	})
	mustCall(t, s.addr, rootToken, "PUT", "sys/policies/acl/t16", map[string]any{"policy": fmt.Sprintf(`
path "database/creds/%s" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }
`, role)})

	// The tree: one parent, then 4 more levels of 3 children each (121
	// tokens). Every token holds one database lease.
	const levels, branching = 5, 3
	newToken := func(creator string) string {
		out := mustCall(t, s.addr, creator, "POST", "auth/token/create", map[string]any{"policies": []string{"t16"}, "ttl": "1h"})
		auth, _ := out["auth"].(map[string]any)
		tok, _ := auth["client_token"].(string)
		if tok == "" {
			t.Fatalf("token create: no client_token in %v", out)
		}
		mustCall(t, s.addr, tok, "GET", "database/creds/"+role, nil)
		return tok
	}
	parent := newToken(rootToken)
	all := []string{parent}
	level := []string{parent}
	for l := 1; l < levels; l++ {
		next := make([]string, len(level)*branching)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i, p := range level {
			for j := range branching {
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					next[i*branching+j] = newToken(p)
				})
			}
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		all = append(all, next...)
		level = next
	}
	if got := testsvc.PostgresRoles(t, pg, prefix); got != len(all) {
		t.Fatalf("%d database users for %d tokens", got, len(all))
	}
	if st := observe(t, s.addr, all, pg, prefix, role); st.valid != len(all) || st.leases != len(all) || st.entries != baseline+len(all) {
		t.Fatalf("before revocation: %+v, want %d valid tokens and leases", st, len(all))
	}

	// Revoke the parent and kill -9 the server at a random point, three
	// times. After a restart the revocation is re-issued, as a client whose
	// request died with the server would: by the parent with revoke-self if
	// it can still authenticate, else by root with auth/token/revoke (the
	// parent is then marked as being revoked and refuses every request).
	//
	// The server finishes an interrupted revocation by itself at unseal (the
	// token sweep runs once at start); the test logs the state found right
	// after the first restart.
	reissue := func(addr string) {
		status, _, err := call(addr, parent, "GET", "auth/token/lookup-self", nil)
		switch {
		case err != nil:
		case status == http.StatusOK:
			call(addr, parent, "POST", "auth/token/revoke-self", nil)
		default:
			call(addr, rootToken, "POST", "auth/token/revoke", map[string]any{"token": parent})
		}
	}
	for round := range 3 {
		if round > 0 {
			s = startDev(t, dir)
			if round == 1 {
				st := observe(t, s.addr, all, pg, prefix, role)
				t.Logf("after the first kill -9 and restart, before re-issuing: %d of %d tokens valid, %d database users, %d leases, %d token entries",
					st.valid, len(all), st.pgUsers, st.leases, st.entries)
			}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			reissue(s.addr)
		}()
		time.Sleep(time.Duration(mrand.IntN(300)) * time.Millisecond)
		s.kill()
		<-done
	}

	// After the last restart nobody re-issues the revocation: the server
	// must finish it on its own.
	s = startDev(t, dir)
	var st treeState
	for deadline := time.Now().Add(clocktest.Wait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if st = observe(t, s.addr, all, pg, prefix, role); st.clean(baseline) {
			break
		}
	}
	if !st.clean(baseline) {
		t.Fatalf("after kill -9 during revocation and a restart: %d of %d tokens still valid, %d database users, %d leases and %d token entries (want %d) left",
			st.valid, len(all), st.pgUsers, st.leases, st.entries, baseline)
	}
}
