package node_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clocktest"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/node/nodetest"
	"github.com/keyward/keyward/internal/testsvc"
)

var updateGolden = flag.Bool("update-reports", false, "rewrite testdata/reports/*.golden")

const day = 24 * time.Hour

// reportFixture is a server whose clock the test holds, with secrets of
// known ages, known policies and auth roles, and known reads by known
// identities. Its clock ends at t0 + 100 days.
type reportFixture struct {
	n     *nodetest.Node
	clock *clocktest.Clock
	root  string
	t0    time.Time
	// planted are the secret values and tokens no report may show.
	planted []string
}

func newReportFixture(t *testing.T, dir string) *reportFixture {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := clocktest.New(t0)
	n := nodetest.StartWith(t, nodetest.Options{Dir: dir, Configure: func(c *config.Config) { c.Now = clock.Now }})
	f := &reportFixture{n: n, clock: clock, root: n.RootToken.Reveal(), t0: t0}
	f.setUp(t)
	return f
}

func (f *reportFixture) must(t *testing.T, method, path, token string, body any) []byte {
	t.Helper()
	code, out := do(t, method, f.n.URL+"/v1/"+path, token, body)
	if code >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, code, out)
	}
	return out
}

// entityRE is an identity key of an entity: its id is random (derived
// from a mount accessor), so the goldens name the entity instead.
var entityRE = regexp.MustCompile(`entity:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`)

// named replaces every entity id in out by the entity's name, read from the
// identity store.
func (f *reportFixture) named(t *testing.T, out []byte) []byte {
	t.Helper()
	return entityRE.ReplaceAllFunc(out, func(m []byte) []byte {
		id := entityRE.FindSubmatch(m)[1]
		var env struct {
			Data struct {
				Name string `json:"name"`
			} `json:"data"`
		}
		if err := json.Unmarshal(f.must(t, "GET", "identity/entity/id/"+string(id), f.root, nil), &env); err != nil || env.Data.Name == "" {
			t.Fatalf("entity %s: no name (%v)", id, err)
		}
		return []byte("entity-name:" + env.Data.Name)
	})
}

func (f *reportFixture) put(t *testing.T, path string) {
	t.Helper()
	v := fmt.Sprintf("planted-%s-%d", strings.ReplaceAll(path, "/", "-"), f.clock.Now().Unix())
	f.planted = append(f.planted, v)
	f.must(t, "PUT", path, f.root, map[string]any{"data": map[string]any{"value": v}})
}

func (f *reportFixture) at(d time.Duration) { f.clock.Set(f.t0.Add(d)) }

func (f *reportFixture) setUp(t *testing.T) {
	t.Helper()
	r := f.root
	f.must(t, "POST", "sys/mounts/legacy", r, map[string]any{"type": "kv", "options": map[string]any{"version": "1"}})
	f.must(t, "POST", "sys/auth/userpass", r, map[string]any{"type": "userpass"})
	f.must(t, "POST", "sys/auth/approle", r, map[string]any{"type": "approle"})
	for name, text := range map[string]string{
		"app-read":    `path "secret/data/app/*" { capabilities = ["read"] }`,
		"prod-read":   `path "secret/data/prod/*" { capabilities = ["read", "list"] }`,
		"team":        `path "secret/data/team/{{identity.entity.name}}/*" { capabilities = ["read"] }`,
		"prod-mine":   `path "secret/data/prod/{{identity.entity.metadata.service}}" { capabilities = ["read"] }`,
		"legacy-read": `path "legacy/*" { capabilities = ["read"] }`,
		"deny-prod":   `path "secret/data/prod/db" { capabilities = ["deny"] }`,
	} {
		f.must(t, "PUT", "sys/policy/"+name, r, map[string]any{"policy": text})
	}
	// Secrets: day 0, a rotation at day 30, one with its own period.
	f.at(0)
	f.put(t, "secret/data/app/db")
	f.put(t, "secret/data/prod/api")
	f.must(t, "POST", "secret/metadata/prod/api", r, map[string]any{"custom_metadata": map[string]any{"rotation_period": "720h", "owner": "=HYPERLINK(\"x\")"}})
	f.put(t, "legacy/prod/key")
	f.at(10 * day)
	f.put(t, "secret/data/prod/db")
	f.at(20 * day)
	f.put(t, "secret/data/orphan/x")
	f.put(t, "secret/data/team/alice/key")
	f.at(30 * day)
	f.put(t, "secret/data/app/db")
	f.must(t, "PUT", "sys/reports/rotation-policies/app", r, map[string]any{"pattern": "secret/data/app/*", "max_age": "60d"})
	f.must(t, "PUT", "sys/reports/rotation-policies/all", r, map[string]any{"pattern": "secret/*", "max_age": "365d"})
	f.must(t, "PUT", "sys/reports/rotation-policies/legacy", r, map[string]any{"pattern": "legacy/*", "max_age": "30d"})

	// Identities: userpass alice (prod), bob (app); approle ci (both).
	f.must(t, "POST", "auth/userpass/users/alice", r, map[string]any{"password": "alice-pass-Zq81", "token_policies": "prod-read"})
	f.must(t, "POST", "auth/userpass/users/bob", r, map[string]any{"password": "bob-pass-Kx27", "token_policies": "app-read", "token_no_default_policy": true})
	f.must(t, "POST", "auth/approle/role/ci", r, map[string]any{"token_policies": "prod-read,app-read,deny-prod"})
	f.must(t, "POST", "sys/auth/jwt", r, map[string]any{"type": "jwt"})
	f.must(t, "POST", "auth/jwt/role/deploy", r, map[string]any{"role_type": "jwt", "user_claim": "sub",
		"bound_audiences": "keyward", "bound_subject": "repo:o/r:ref:refs/heads/main", "token_policies": "prod-mine"})
	f.must(t, "POST", "auth/jwt/role/nothing", r, map[string]any{"role_type": "jwt", "user_claim": "sub",
		"bound_audiences": "keyward", "bound_subject": "repo:o/r:ref:refs/heads/dev", "token_policies": "app-read"})
	f.must(t, "POST", "sys/auth/cert", r, map[string]any{"type": "cert"})
	f.must(t, "POST", "auth/cert/certs/web", r, map[string]any{"certificate": selfSignedPEM(t), "token_policies": "legacy-read",
		"token_no_default_policy": true})
	f.planted = append(f.planted, "alice-pass-Zq81", "bob-pass-Kx27")

	// Reads: root at day 50, alice twice at day 95, bob at day 99; a
	// failed read and a metadata read count for nothing.
	f.at(50 * day)
	f.must(t, "GET", "secret/data/prod/db", r, nil)
	f.at(95 * day)
	alice := f.login(t, "alice", "alice-pass-Zq81")
	f.must(t, "GET", "secret/data/prod/api", alice, nil)
	f.at(95*day + time.Hour)
	f.must(t, "GET", "secret/data/prod/api", alice, nil)
	do(t, "GET", f.n.URL+"/v1/secret/data/app/db", alice, nil) // denied
	f.at(99 * day)
	bob := f.login(t, "bob", "bob-pass-Kx27")
	f.must(t, "GET", "secret/data/app/db", bob, nil)
	f.must(t, "GET", "secret/metadata/prod/db", r, nil)
	f.planted = append(f.planted, alice, bob)
	f.at(100 * day)
}

// selfSignedPEM is a throw-away CA certificate for a cert auth entry.
func selfSignedPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "reports-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func (f *reportFixture) login(t *testing.T, user, pass string) string {
	t.Helper()
	var out struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	json.Unmarshal(f.must(t, "POST", "auth/userpass/login/"+user, "", map[string]any{"password": pass}), &out)
	if out.Auth.ClientToken == "" {
		t.Fatalf("login %s: no token", user)
	}
	return out.Auth.ClientToken
}

// reportQueries are the reports the golden files hold, by file name.
var reportQueries = []struct{ file, query string }{
	{"secrets", "secrets"},
	{"rotation-overdue", "rotation-overdue"},
	{"unread", "unread?days=30"},
	{"orphaned", "orphaned"},
	{"production-readers", "production-readers"},
	{"access-map", "access-map?since=2026-03-01T00:00:00Z"},
	{"access-map-window", "access-map?since=2026-04-01T00:00:00Z&until=2026-04-06T00:00:00Z"},
	{"leases-near-max", "leases-near-max?within=48h"},
	{"static-role-failures", "static-role-failures"},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "reports", name+".golden")
	if *updateGolden {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-reports)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// TestReportsFixture: a fixture of known ages, policies, roles and reads
// gives exactly the rows of the golden files, as JSON and as CSV.
func TestReportsFixture(t *testing.T) {
	f := newReportFixture(t, "")
	for _, q := range reportQueries {
		out := f.must(t, "GET", "sys/reports/"+q.query, f.root, nil)
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(out, &env); err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
		var pretty bytes.Buffer
		json.Indent(&pretty, env.Data, "", "  ")
		pretty.WriteString("\n")
		// Entity ids are random: name them, and re-sort the maps keyed by them.
		var named any
		if err := json.Unmarshal(f.named(t, pretty.Bytes()), &named); err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
		canon, _ := json.MarshalIndent(named, "", "  ")
		golden(t, q.file+".json", append(canon, '\n'))
		sep := "?"
		if strings.Contains(q.query, "?") {
			sep = "&"
		}
		code, body := do(t, "GET", f.n.URL+"/v1/sys/reports/"+q.query+sep+"format=csv", f.root, nil)
		if code != 200 {
			t.Fatalf("%s csv: %d %s", q.query, code, body)
		}
		if _, err := csv.NewReader(bytes.NewReader(body)).ReadAll(); err != nil {
			t.Errorf("%s: CSV does not parse: %v", q.query, err)
		}
		golden(t, q.file+".csv", f.named(t, body))
	}
}

// Leases near their max TTL come from the lease manager (on the core's
// clock); a static role whose rotation failed shows its failure status
// from the database engine, against the real PostgreSQL.
func TestReportsLeasesAndStaticRoleFailures(t *testing.T) {
	admin := testsvc.Postgres(t)
	prefix := "kwrep" + strings.ToLower(crand.Text()[:6])
	testsvc.DropPostgresRoles(t, admin, prefix)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := clocktest.New(t0)
	n := nodetest.StartWith(t, nodetest.Options{Configure: func(c *config.Config) { c.Now = clock.Now }})
	root := n.RootToken.Reveal()
	f := &reportFixture{n: n, clock: clock, root: root, t0: t0}
	f.must(t, "POST", "sys/mounts/database", root, map[string]any{"type": "database"})
	f.must(t, "POST", "database/config/pg", root, map[string]any{
		"plugin_name": "postgresql-database-plugin", "connection_url": testsvc.PostgresURL,
		"username": "postgres", "password": "x", "allowed_roles": "*", "username_template": prefix + `-{{random 8}}`})
	f.must(t, "POST", "database/roles/ro", root, map[string]any{"db_name": "pg", "default_ttl": "10m", "max_ttl": "1h",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`}})
	var creds struct {
		LeaseID string         `json:"lease_id"`
		Data    map[string]any `json:"data"`
	}
	json.Unmarshal(f.must(t, "GET", "database/creds/ro", root, nil), &creds)
	password, _ := creds.Data["password"].(string)
	if creds.LeaseID == "" || password == "" {
		t.Fatalf("no credentials: %+v", creds)
	}
	static := prefix + "-static"
	if _, err := admin.Exec(t.Context(), `CREATE ROLE "`+static+`" WITH LOGIN PASSWORD 'initial-Pw-1'`); err != nil {
		t.Fatal(err)
	}
	f.must(t, "POST", "database/static-roles/app", root, map[string]any{"db_name": "pg", "username": static, "rotation_period": "24h"})
	f.must(t, "POST", "database/static-roles/healthy", root, map[string]any{"db_name": "pg", "username": static, "rotation_period": "24h"})
	var sc struct {
		Data map[string]any `json:"data"`
	}
	json.Unmarshal(f.must(t, "GET", "database/static-creds/app", root, nil), &sc)
	staticPass, _ := sc.Data["password"].(string)
	// The user goes away: the next rotation of app fails.
	if _, err := admin.Exec(t.Context(), `DROP ROLE "`+static+`"`); err != nil {
		t.Fatal(err)
	}
	if code, out := do(t, "POST", n.URL+"/v1/database/rotate-role/app", root, nil); code < 400 {
		t.Fatalf("rotation of a dropped user: %d %s", code, out)
	}

	f.at(30 * time.Minute)
	var near struct {
		Data struct {
			Rows []map[string]any `json:"rows"`
		} `json:"data"`
	}
	json.Unmarshal(f.must(t, "GET", "sys/reports/leases-near-max?within=45m", root, nil), &near)
	if len(near.Data.Rows) != 1 || near.Data.Rows[0]["lease_id"] != creds.LeaseID ||
		near.Data.Rows[0]["seconds_to_max"] != float64(1800) || near.Data.Rows[0]["path"] != "database/creds/ro" ||
		near.Data.Rows[0]["max_expire"] != "2026-01-01T01:00:00Z" {
		t.Errorf("leases near max (45m) = %+v", near.Data.Rows)
	}
	json.Unmarshal(f.must(t, "GET", "sys/reports/leases-near-max?within=20m", root, nil), &near)
	if len(near.Data.Rows) != 0 {
		t.Errorf("leases near max (20m) = %+v, want none", near.Data.Rows)
	}

	out := f.must(t, "GET", "sys/reports/static-role-failures", root, nil)
	var failed struct {
		Data struct {
			Rows []map[string]any `json:"rows"`
		} `json:"data"`
	}
	json.Unmarshal(out, &failed)
	if len(failed.Data.Rows) != 1 {
		t.Fatalf("static role failures = %s", out)
	}
	row := failed.Data.Rows[0]
	if row["mount"] != "database/" || row["role"] != "app" || row["username"] != static || row["db_name"] != "pg" {
		t.Errorf("failure row = %+v", row)
	}
	if n, _ := row["failed_rotations"].(float64); n < 1 {
		t.Errorf("failed_rotations = %v", row["failed_rotations"])
	}
	if e, _ := row["last_error"].(string); e == "" {
		t.Error("no last_error")
	}
	// The database read is in the access index, as the root token's.
	am := f.must(t, "GET", "sys/reports/access-map", root, nil)
	if !strings.Contains(string(am), `"database/creds/ro"`) || !strings.Contains(string(am), "name:auth/token/root") {
		t.Errorf("access map lacks the database read: %s", am)
	}
	for _, rep := range []string{"leases-near-max?within=45m", "static-role-failures", "access-map"} {
		for _, format := range []string{"", "&format=csv"} {
			q := rep
			if format != "" && !strings.Contains(q, "?") {
				format = "?format=csv"
			}
			_, body := do(t, "GET", n.URL+"/v1/sys/reports/"+q+format, root, nil)
			for _, secret := range []string{password, staticPass, "initial-Pw-1", root} {
				if secret != "" && strings.Contains(string(body), secret) {
					t.Errorf("%s%s shows a secret", q, format)
				}
			}
		}
	}
}

// The access index is persisted behind the barrier and survives a real
// restart on bbolt storage: the reports after the restart are the same.
func TestAccessIndexSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	f := newReportFixture(t, dir)
	before := f.must(t, "GET", "sys/reports/access-map?format=csv", f.root, nil)
	unreadBefore := f.must(t, "GET", "sys/reports/unread?days=30&format=csv", f.root, nil)
	if !strings.Contains(string(f.named(t, before)), "entity-name:alice,alice,secret/data/prod/api,2,") {
		t.Fatalf("access map before the restart:\n%s", before)
	}
	shares := f.n.Shares
	if err := f.n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := nodetest.StartWith(t, nodetest.Options{Dir: dir, Reopen: shares,
		Configure: func(c *config.Config) { c.Now = f.clock.Now }})
	f.n = n2
	after := f.must(t, "GET", "sys/reports/access-map?format=csv", f.root, nil)
	if !bytes.Equal(before, after) {
		t.Errorf("access map changed across the restart:\n--- before\n%s--- after\n%s", before, after)
	}
	if unread := f.must(t, "GET", "sys/reports/unread?days=30&format=csv", f.root, nil); !bytes.Equal(unreadBefore, unread) {
		t.Errorf("unread changed across the restart:\n--- before\n%s--- after\n%s", unreadBefore, unread)
	}
	if since := n2.Watch().Access().Since(); !since.Equal(f.t0.Add(50 * day)) {
		t.Errorf("index counting since %v after the restart", since)
	}
}

// Reports need read on sys/reports/*: the default policy gets nothing,
// and a reports policy reads them and cannot change the settings.
func TestReportsAccessControl(t *testing.T) {
	f := newReportFixture(t, "")
	f.must(t, "PUT", "sys/policy/reports", f.root, map[string]any{"policy": `path "sys/reports/*" { capabilities = ["read", "list"] }`})
	mk := func(policies ...string) string {
		var out struct {
			Auth struct {
				ClientToken string `json:"client_token"`
			} `json:"auth"`
		}
		json.Unmarshal(f.must(t, "POST", "auth/token/create", f.root, map[string]any{"policies": policies}), &out)
		return out.Auth.ClientToken
	}
	plain, reader := mk("default"), mk("reports")
	f.planted = append(f.planted, plain, reader)
	for _, name := range []string{"secrets", "access-map", "orphaned", "config"} {
		if code, _ := do(t, "GET", f.n.URL+"/v1/sys/reports/"+name, plain, nil); code != 403 {
			t.Errorf("default policy: GET sys/reports/%s = %d, want 403", name, code)
		}
		if code, out := do(t, "GET", f.n.URL+"/v1/sys/reports/"+name, reader, nil); code != 200 {
			t.Errorf("reports policy: GET sys/reports/%s = %d %s", name, code, out)
		}
	}
	if code, _ := do(t, "PUT", f.n.URL+"/v1/sys/reports/config", reader, map[string]any{"production_patterns": []string{"x"}}); code != 403 {
		t.Errorf("reports policy changed the config: %d", code)
	}
	// Bad parameters are a 400 naming the parameter.
	for q, want := range map[string]string{
		"unread?days=0":                "days",
		"unread?days=abc":              "days",
		"leases-near-max?within=-1h":   "within",
		"access-map?since=yesterday":   "since",
		"access-map?since=1h&until=2h": "until is before since",
		"secrets?format=xml":           "format",
		"secrets?bogus=1":              "bogus",
		"nonexistent":                  "no report",
	} {
		code, out := do(t, "GET", f.n.URL+"/v1/sys/reports/"+q, f.root, nil)
		if (code != 400 && code != 404) || !strings.Contains(string(out), want) {
			t.Errorf("GET sys/reports/%s = %d %s, want an error naming %q", q, code, out, want)
		}
	}
	// Production patterns are configurable: only app/ paths now.
	f.must(t, "PUT", "sys/reports/config", f.root, map[string]any{"production_patterns": []string{"secret/data/app/*"}})
	out := f.must(t, "GET", "sys/reports/production-readers?format=csv", f.root, nil)
	want := "auth_mount,auth_type,role,policies,granting_policies,secrets,paths\n" +
		"auth/approle/,approle,ci,app-read;default;deny-prod;prod-read,app-read,1,secret/data/app/db\n" +
		"auth/jwt/,jwt,nothing,app-read;default,app-read,1,secret/data/app/db\n" +
		"auth/userpass/,userpass,bob,app-read,app-read,1,secret/data/app/db\n"
	if string(out) != want {
		t.Errorf("production readers with a custom pattern:\n%s\nwant\n%s", out, want)
	}
	if code, out := do(t, "PUT", f.n.URL+"/v1/sys/reports/config", f.root, map[string]any{"production_patterns": []string{"a*b"}}); code != 400 {
		t.Errorf("a bad pattern was accepted: %d %s", code, out)
	}
}

// Canary sweep: no planted secret value, password or token appears in
// any report, in either format, nor in the access index or the server's log.
func TestReportsNeverShowSecrets(t *testing.T) {
	f := newReportFixture(t, "")
	var all bytes.Buffer
	for _, q := range reportQueries {
		for _, format := range []string{"json", "csv"} {
			sep := "?"
			if strings.Contains(q.query, "?") {
				sep = "&"
			}
			_, out := do(t, "GET", f.n.URL+"/v1/sys/reports/"+q.query+sep+"format="+format, f.root, nil)
			all.Write(out)
		}
	}
	for _, p := range []string{"config", "rotation-policies/app", "rotation-policies", ""} {
		_, out := do(t, "GET", f.n.URL+"/v1/sys/reports/"+p, f.root, nil)
		all.Write(out)
	}
	if err := f.n.Watch().Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, rec := range f.n.Watch().Access().Snapshot() {
		raw, _ := json.Marshal(rec)
		all.Write(raw)
	}
	all.WriteString(f.n.Logs.String())
	if all.Len() < 2000 {
		t.Fatalf("swept only %d bytes", all.Len())
	}
	for _, s := range append(f.planted, f.root) {
		if strings.Contains(all.String(), s) {
			t.Errorf("a report shows %q", s)
		}
	}
}
