package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/internal/node/nodetest"
)

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{"VAULT_ADDR": "http://v:1", "VAULT_TOKEN": "vt", "KEYWARD_TOKEN": "kt", "VAULT_WRAP_TTL": "5m"}
	cfg := api.ConfigFromEnv(func(k string) string { return env[k] })
	if cfg.Address != "http://v:1" || cfg.Token.Reveal() != "kt" || cfg.WrapTTL != "5m" {
		t.Errorf("ConfigFromEnv = %+v: want VAULT_ADDR fallback, KEYWARD_TOKEN first, VAULT_WRAP_TTL", cfg)
	}
	if cfg := api.ConfigFromEnv(func(string) string { return "" }); cfg.Address != api.DefaultAddress {
		t.Errorf("default address = %q", cfg.Address)
	}
	if _, err := api.New(api.Config{Address: "ftp://x"}); err == nil {
		t.Error("New accepted an ftp address")
	}
}

func TestClientAgainstServer(t *testing.T) {
	n := nodetest.Start(t)
	ctx := context.Background()
	c, err := api.New(api.Config{Address: n.URL, Token: api.NewToken(n.RootToken.Reveal())})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := c.Health(ctx); err != nil || !h.Initialized || h.Sealed {
		t.Fatalf("Health = %+v, %v", h, err)
	}
	if _, err := c.Write(ctx, "secret/data/app", map[string]any{"data": map[string]any{"k": "v1"}}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Read(ctx, "secret/data/app", nil)
	if err != nil || s.Data["data"].(map[string]any)["k"] != "v1" {
		t.Fatalf("Read = %+v, %v", s, err)
	}
	// Nothing there: nil, nil.
	if s, err := c.Read(ctx, "secret/data/missing", nil); s != nil || err != nil {
		t.Fatalf("Read of a missing path = %+v, %v", s, err)
	}
	// A deleted version comes back with its metadata (404 with data).
	if _, err := c.Delete(ctx, "secret/data/app", nil); err != nil {
		t.Fatal(err)
	}
	s, err = c.Read(ctx, "secret/data/app", nil)
	if err != nil || s == nil || s.Data["data"] != nil || s.Data["metadata"] == nil {
		t.Fatalf("Read of a deleted version = %+v, %v", s, err)
	}
	// Errors carry the status and the server's messages, never the body.
	c.SetToken("kws_wrong")
	_, err = c.Read(ctx, "secret/data/app", nil)
	if !api.IsStatus(err, http.StatusForbidden) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Read with a wrong token: %v", err)
	}
	// Wrapping: the response is only wrap_info; the mount probe is never
	// wrapped.
	c.SetToken(n.RootToken.Reveal())
	c.Write(ctx, "secret/data/app", map[string]any{"data": map[string]any{"k": "v2"}})
	c.SetWrapTTL("1m")
	s, err = c.Read(ctx, "secret/data/app", nil)
	if err != nil || s.WrapInfo == nil || s.WrapInfo.Token == "" || s.Data != nil {
		t.Fatalf("wrapped Read = %+v, %v", s, err)
	}
	if m, err := c.MountFor(ctx, "secret/app"); err != nil || m.Options["version"] != "2" {
		t.Fatalf("MountFor with wrapping on = %+v, %v", m, err)
	}
}
