package api_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/keyward/keyward/api"
)

// A token in a Config, a Client or a Token of its own never prints, logs or
// encodes, whatever the verb, handler or encoder.
func TestTokenNeverLeaks(t *testing.T) {
	secret := "kw-canary-" + rand.Text()
	tok := api.NewToken(secret)
	cfg := api.Config{Address: "http://127.0.0.1:1", Token: tok}
	c, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	type holder struct {
		cfg api.Config // unexported: fmt cannot call methods here
		Cfg *api.Config
		tok api.Token
	}
	values := map[string]any{"Token": tok, "*Token": &tok, "Config": cfg, "*Config": &cfg, "*Client": c,
		"holder": holder{cfg, &cfg, tok}, "[]Token": []api.Token{tok}, "map": map[string]api.Token{"k": tok}}
	var out strings.Builder
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%20v", "%-20s"} {
			fmt.Fprintf(&out, "%s %s: "+verb+"\n", name, verb, v)
		}
		var logs bytes.Buffer
		slog.New(slog.NewTextHandler(&logs, nil)).Info("v", "v", v, slog.Group("g", "v", v))
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("v", "v", v, slog.Group("g", "v", v))
		out.Write(logs.Bytes())
		if j, err := json.Marshal(v); err == nil {
			out.Write(j)
		}
		if y, err := yaml.Marshal(v); err == nil {
			out.Write(y)
		}
		out.WriteString(fmt.Errorf("client %v: %w", v, errors.New("refused")).Error())
	}
	if strings.Contains(out.String(), secret) || strings.Contains(out.String(), fmt.Sprintf("%x", secret)) {
		t.Errorf("the token leaked:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "[redacted]") {
		t.Error("no placeholder in the output")
	}
	if got := fmt.Sprintf("%q|%12s|%-12v|", tok, tok, tok); got != `"[redacted]"|  [redacted]|[redacted]  |` {
		t.Errorf("formatting = %s", got)
	}
	if c.Token() != secret || tok.Reveal() != secret || tok.Empty() || !(api.Token{}).Empty() {
		t.Error("Reveal, Empty or Client.Token lost the token")
	}
}

// Decoding a Token is refused, without echoing the input.
func TestTokenDecodeRefused(t *testing.T) {
	secret := "kw-canary-" + rand.Text()
	var v struct{ Token api.Token }
	err := json.Unmarshal([]byte(`{"Token":"`+secret+`"}`), &v)
	if !errors.Is(err, api.ErrDecodeToken) || strings.Contains(err.Error(), secret) || !v.Token.Empty() {
		t.Errorf("json.Unmarshal = %v, token set %v", err, !v.Token.Empty())
	}
	err = yaml.Unmarshal([]byte("token: "+secret+"\n"), &v)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("yaml.Unmarshal = %v", err)
	}
}
