package node_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// clientLibFixture is a client library's recorded requests.
type clientLibFixture struct {
	Library  string `json:"library"`
	Requests []struct {
		Call        string `json:"call"`
		Method      string `json:"method"`
		Path        string `json:"path"`
		ContentType string `json:"content_type"`
		Body        string `json:"body"`
	} `json:"requests"`
}

// send makes one raw request with the root token, as the library does.
func send(t *testing.T, n *nodetest.Node, method, path, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", n.RootToken.Reveal())
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// The exact requests node-vault sends for mount(), enableAuth(),
// enableAudit(), addPolicy() and the matching disables succeed: the extra
// mount_point and name fields repeat the path and are accepted.
func TestNodeVaultRequests(t *testing.T) {
	raw, err := os.ReadFile("testdata/clientlibs/node-vault-0.12.0.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx clientLibFixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	n := nodetest.Start(t)
	dir, _ := json.Marshal(t.TempDir()) // the node's audit directory is the system temporary one
	for _, r := range fx.Requests {
		body := strings.ReplaceAll(r.Body, "AUDIT_DIR", strings.Trim(string(dir), `"`))
		status, out := send(t, n, r.Method, r.Path, r.ContentType, body)
		if status/100 != 2 {
			t.Errorf("%s: %s %s %s = %d %s", fx.Library, r.Method, r.Path, body, status, out)
		}
	}
	// What the calls did is visible through the API.
	_, mounts := send(t, n, "GET", "/v1/sys/mounts", "", "")
	if !strings.Contains(mounts, `"kv2/"`) || !strings.Contains(mounts, `"postgresql/"`) || strings.Contains(mounts, `"test/"`) {
		t.Errorf("sys/mounts after the replay = %s", mounts)
	}
	_, auths := send(t, n, "GET", "/v1/sys/auth", "", "")
	if !strings.Contains(auths, `"approle/"`) || strings.Contains(auths, `"userpass/"`) {
		t.Errorf("sys/auth after the replay = %s", auths)
	}
}

// The accepted fields may only repeat the path; a different value or a
// misspelling is still refused.
func TestClientLibFieldsMustMatchThePath(t *testing.T) {
	n := nodetest.Start(t)
	dir := t.TempDir()
	tests := []struct {
		name, method, path, body, want string
	}{
		{"mount_point elsewhere", "POST", "/v1/sys/mounts/a", `{"mount_point":"b","type":"kv"}`, `mount_point \"b\" does not match the path \"a/\"`},
		{"auth mount_point elsewhere", "POST", "/v1/sys/auth/approle", `{"mount_point":"token","type":"approle"}`, `mount_point \"token\" does not match`},
		{"mount_point misspelt", "POST", "/v1/sys/mounts/a", `{"mount_piont":"a","type":"kv"}`, `unknown field \"mount_piont\" (did you mean \"mount_point\"?)`},
		{"mount_point not a string", "POST", "/v1/sys/mounts/a", `{"mount_point":["a"],"type":"kv"}`, `mount_point`},
		{"audit name elsewhere", "PUT", "/v1/sys/audit/one", `{"name":"two","type":"file","options":{"file_path":"` + dir + `/a.log"}}`, `name \"two\" does not match`},
		{"audit name misspelt", "PUT", "/v1/sys/audit/one", `{"nmae":"one","type":"file","options":{"file_path":"` + dir + `/a.log"}}`, `unknown field \"nmae\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := send(t, n, tt.method, tt.path, "application/json", tt.body)
			if status != http.StatusBadRequest || !strings.Contains(out, tt.want) {
				t.Errorf("%s %s %s = %d %s, want 400 with %s", tt.method, tt.path, tt.body, status, out, tt.want)
			}
		})
	}
	_, mounts := send(t, n, "GET", "/v1/sys/mounts", "", "")
	_, audits := send(t, n, "GET", "/v1/sys/audit", "", "")
	if strings.Contains(mounts, `"a/"`) || strings.Contains(mounts, `"b/"`) || strings.Contains(audits, "one/") {
		t.Errorf("a refused request changed something: mounts %s, audit %s", mounts, audits)
	}
}
