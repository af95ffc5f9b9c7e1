package database

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/sensitive"
)

// A connection config printed, logged or JSON-encoded shows neither its
// password, its pending password nor a URL holding one; only the stored
// form carries them, under the keys they were always stored by.
func TestConfigSecretsStayInTheirTypes(t *testing.T) {
	pw, pending, urlPw := "pw-"+rand.Text(), "pending-"+rand.Text(), "url-"+rand.Text()
	c := &dbConfig{Plugin: pluginPostgres, Username: "admin",
		URL:      sensitive.NewString("postgres://admin:" + urlPw + "@127.0.0.1/db"),
		Password: sensitive.NewString(pw), PendingPassword: sensitive.NewString(pending)}
	cc := c.connConfig(c.Password)

	var logs bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&logs, nil))
	l.Info("config", "c", c, "cc", cc)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "c", c, "cc", cc)
	encoded, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Join([]string{fmt.Sprintf("%v %+v %#v", c, c, c), fmt.Sprintf("%v %+v %#v", cc, cc, cc),
		logs.String(), string(encoded), fmt.Errorf("open %v: %w", cc, errSentinel).Error()}, "\n")
	for _, s := range []string{pw, pending, urlPw} {
		if strings.Contains(out, s) {
			t.Errorf("a secret of the config leaked:\n%s", out)
		}
	}

	raw, err := json.Marshal(storedConfig{dbConfig: *c, URL: c.URL.Reveal(), Password: c.Password.Reveal(), PendingPassword: c.PendingPassword.Reveal()})
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string]any
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	if stored["password"] != pw || stored["pending_password"] != pending || stored["connection_url"] != c.URL.Reveal() || stored["username"] != "admin" {
		t.Errorf("stored form = %s, want the secrets under password, pending_password and connection_url", raw)
	}
	var back storedConfig
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Password != pw || back.PendingPassword != pending || back.URL != c.URL.Reveal() || back.Username != "admin" {
		t.Error("the stored form does not decode to the secrets it holds")
	}
}

var errSentinel = fmt.Errorf("connection refused")
