package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/node"
)

// startListeners starts an unsealed in-memory node with these listener
// blocks (validated as a config file's would be) and returns it with the
// base URL of each listener and the root token.
func startListeners(t *testing.T, listeners ...config.Listener) (*node.Node, []string, string) {
	t.Helper()
	cfg := config.Default()
	cfg.Listeners = listeners
	cfg.Storage = config.Storage{Type: "inmem"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n, root := startUnsealed(t, cfg)
	return n, n.URLs(), root
}

// startUnsealed starts a node from cfg, initialized with one share and
// unsealed, and returns it with the root token. Its logs (JSON, as the
// server writes them) are discarded.
func startUnsealed(t *testing.T, cfg *config.Config) (*node.Node, string) {
	t.Helper()
	n, err := node.New(cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx := context.Background()
	res, err := n.Core().Initialize(ctx, core.InitParams{Shares: 1, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Core().Unseal(ctx, res.Shares); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	return n, res.RootToken.Reveal()
}

// TestTrustedProxiesPerListener: a proxy trusted on one listener is not
// trusted on another, so a client reaching the other listener cannot forge
// the address a token's CIDR binding checks (issue 10 item 10).
func TestTrustedProxiesPerListener(t *testing.T) {
	_, urls, root := startListeners(t,
		config.Listener{Type: "tcp", Address: "127.0.0.1:0", TLSDisable: true, TrustedProxies: []string{"127.0.0.0/8"}},
		config.Listener{Type: "tcp", Address: "127.0.0.1:0", TLSDisable: true},
	)
	behindProxy, direct := urls[0], urls[1]
	if code, body := do(t, "POST", direct+"/v1/auth/token/roles/ci", root,
		map[string]any{"token_bound_cidrs": []string{"198.51.100.0/24"}}); code != 204 && code != 200 {
		t.Fatalf("create role: %d %s", code, body)
	}
	code, body := do(t, "POST", direct+"/v1/auth/token/create/ci", root, map[string]any{})
	if code != 200 {
		t.Fatalf("create token: %d %s", code, body)
	}
	var created struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.Auth.ClientToken == "" {
		t.Fatalf("create token: %v %s", err, body)
	}
	tok := created.Auth.ClientToken

	tests := []struct {
		name, base, xff string
		want            int
	}{
		{"through the trusted proxy, client inside the CIDR", behindProxy, "198.51.100.7", 200},
		{"through the trusted proxy, client outside", behindProxy, "203.0.113.5", 403},
		{"other listener, forged header", direct, "198.51.100.7", 403},
		{"other listener, no header", direct, "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tt.base+"/v1/auth/token/lookup-self", nil)
			req.Header.Set("X-Vault-Token", tok)
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("lookup-self via %s with X-Forwarded-For %q = %d, want %d", tt.base, tt.xff, resp.StatusCode, tt.want)
			}
		})
	}
}

// TestTimeoutsPerListener: each listener's timeouts apply to it, not the
// first listener's to all (issue 10 item 10). Listener 0 has no read
// timeout and listener 1 a short one: a body stalled on listener 1 gets
// 408 from the server's own deadline, while one stalled on listener 0 since
// before is still read afterwards.
func TestTimeoutsPerListener(t *testing.T) {
	_, urls, root := startListeners(t,
		config.Listener{Type: "tcp", Address: "127.0.0.1:0", TLSDisable: true, ReadTimeout: -1},
		config.Listener{Type: "tcp", Address: "127.0.0.1:0", TLSDisable: true, ReadTimeout: 200 * time.Millisecond},
	)
	head := "POST /v1/auth/token/lookup-self HTTP/1.1\r\nHost: x\r\nX-Vault-Token: " + root + "\r\nContent-Length: 2\r\n"

	// Listener 0: the handler is reading the body (100 Continue) and its
	// read deadline, if it had one, would be running.
	c0 := dial(t, urls[0])
	r0 := bufio.NewReader(c0)
	write(t, c0, head+"Expect: 100-continue\r\n\r\n")
	if line := statusLine(t, r0); !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("listener 0: %q, want 100 Continue", line)
	}
	if _, err := r0.ReadString('\n'); err != nil { // the blank line ending 100 Continue
		t.Fatal(err)
	}

	// Listener 1 times out a body stalled after one byte.
	c1 := dial(t, urls[1])
	write(t, c1, head+"\r\n{")
	if line := statusLine(t, bufio.NewReader(c1)); !strings.HasPrefix(line, "HTTP/1.1 408") {
		t.Errorf("listener 1 stalled body: %q, want 408 from its 200ms read timeout", line)
	}

	// Listener 0's request, stalled longer than that, still completes.
	write(t, c0, "{}")
	if line := statusLine(t, r0); !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Errorf("listener 0 after the stall: %q, want 200 (it has no read timeout)", line)
	}
}

func dial(t *testing.T, base string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // a hang fails, not blocks
	return c
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

func statusLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read status line: %v", err)
	}
	return strings.TrimSpace(line)
}
