package node_test

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// call sends method to /v1/path with token (none when empty) and returns
// the status, Content-Type and body.
func call(t *testing.T, n *nodetest.Node, method, path, token, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, n.URL+"/v1/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestMetricsEndpoint(t *testing.T) {
	n := nodetest.Start(t)
	root := n.RootToken.Reveal()
	canary := "canary-" + rand.Text()
	if code, _, body := call(t, n, "PUT", "secret/data/app/db", root, `{"data":{"password":"`+canary+`"}}`); code != 200 {
		t.Fatalf("write secret: %d %s", code, body)
	}

	code, ctype, text := call(t, n, "GET", "sys/metrics?format=prometheus", root, "")
	if code != 200 || ctype != "text/plain; version=0.0.4" {
		t.Fatalf("GET sys/metrics?format=prometheus = %d %q\n%s", code, ctype, text)
	}
	for _, name := range []string{"keyward_requests_total", "keyward_leases_active", "keyward_leases_revoke_pending",
		"keyward_leases_irrevocable", "keyward_leases_revoked_total", "keyward_lease_revoke_failures_total",
		"keyward_database_rotations_total", "keyward_database_rotation_failures_total"} {
		if !strings.Contains(text, "# TYPE "+name+" ") || !strings.Contains(text, "\n"+name+" ") {
			t.Errorf("metrics lack %s:\n%s", name, text)
		}
	}
	if strings.Contains(text, "keyward_requests_total 0\n") {
		t.Error("keyward_requests_total is 0 after requests")
	}
	for _, secret := range []string{canary, root} {
		if strings.Contains(text, secret) {
			t.Fatal("metrics text contains a secret value")
		}
	}

	t.Run("json", func(t *testing.T) {
		code, ctype, body := call(t, n, "GET", "sys/metrics", root, "")
		var out struct {
			Counters []struct {
				Name  string
				Count int64
			}
			Gauges []struct{ Name string }
		}
		if code != 200 || ctype != "application/json" || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("GET sys/metrics = %d %q %s", code, ctype, body)
		}
		found := false
		for _, c := range out.Counters {
			found = found || (c.Name == "keyward_requests_total" && c.Count > 0)
		}
		if !found || len(out.Gauges) == 0 || strings.Contains(body, canary) {
			t.Errorf("JSON metrics incomplete or leaking: %s", body)
		}
	})
	t.Run("bad format", func(t *testing.T) {
		if code, _, body := call(t, n, "GET", "sys/metrics?format=xml", root, ""); code != 400 {
			t.Errorf("format=xml = %d %s", code, body)
		}
	})

	// Policy decides, like any path: read on sys/metrics is needed.
	if code, _, body := call(t, n, "PUT", "sys/policies/acl/metrics", root,
		`{"policy":"path \"sys/metrics\" { capabilities = [\"read\"] }"}`); code/100 != 2 {
		t.Fatalf("put policy: %d %s", code, body)
	}
	tokenWith := func(policy string) string {
		t.Helper()
		code, _, body := call(t, n, "POST", "auth/token/create", root, `{"policies":["`+policy+`"]}`)
		var out struct {
			Auth struct {
				ClientToken string `json:"client_token"`
			}
		}
		if code != 200 || json.Unmarshal([]byte(body), &out) != nil || out.Auth.ClientToken == "" {
			t.Fatalf("token create: %d %s", code, body)
		}
		return out.Auth.ClientToken
	}
	for _, tc := range []struct {
		name  string
		token string
		want  int
	}{
		{"no token", "", http.StatusForbidden},
		{"bad token", "hvs.not-a-token", http.StatusForbidden},
		{"default policy only", tokenWith("default"), http.StatusForbidden},
		{"read on sys/metrics", tokenWith("metrics"), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, body := call(t, n, "GET", "sys/metrics?format=prometheus", tc.token, ""); code != tc.want {
				t.Errorf("status = %d, want %d: %s", code, tc.want, body)
			}
		})
	}
}
