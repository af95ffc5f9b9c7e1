package node_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// sys/plugins/catalog lists the built-in engines, auth methods and database
// plugins in Vault's shapes (`vault plugin list|info`); registering an
// external plugin is refused with a clear 400.
func TestVaultClientPluginCatalog(t *testing.T) {
	n := nodetest.Start(t)
	c := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	all, err := c.Sys().ListPlugins(&vault.ListPluginsInput{})
	if err != nil {
		t.Fatalf("ListPlugins: %v", err)
	}
	for typ, want := range map[vault.PluginType][]string{
		vault.PluginTypeSecrets:    {"database", "kv"},
		vault.PluginTypeCredential: {"approle", "cert", "jwt", "oidc", "userpass"},
		vault.PluginTypeDatabase:   {"mysql-database-plugin", "postgresql-database-plugin", "redis-database-plugin"},
	} {
		for _, name := range want {
			if !slices.Contains(all.PluginsByType[typ], name) {
				t.Errorf("catalog %s = %v, missing %s", typ, all.PluginsByType[typ], name)
			}
		}
	}
	if len(all.Details) == 0 {
		t.Fatal("no detailed entries")
	}
	for _, d := range all.Details {
		if !d.Builtin || d.Version == "" || d.DeprecationStatus != "supported" {
			t.Errorf("detailed entry %+v", d)
		}
	}
	db, err := c.Sys().ListPlugins(&vault.ListPluginsInput{Type: vault.PluginTypeDatabase})
	if err != nil || !slices.Contains(db.PluginsByType[vault.PluginTypeDatabase], "postgresql-database-plugin") {
		t.Fatalf("ListPlugins(database) = %+v, %v", db, err)
	}
	listed, err := c.Logical().List("sys/plugins/catalog/auth")
	if err != nil || listed == nil || !slices.Contains(listed.Data["keys"].([]any), any("userpass")) {
		t.Fatalf("LIST sys/plugins/catalog/auth = %v, %v", listed, err)
	}
	info, err := c.Sys().GetPlugin(&vault.GetPluginInput{Type: vault.PluginTypeSecrets, Name: "kv"})
	if err != nil || info == nil || !info.Builtin || info.Name != "kv" {
		t.Fatalf("GetPlugin(secret, kv) = %+v, %v", info, err)
	}
	if _, err := c.Sys().GetPlugin(&vault.GetPluginInput{Type: vault.PluginTypeSecrets, Name: "nope"}); !isStatus(err, http.StatusNotFound) {
		t.Errorf("GetPlugin of an unknown plugin = %v, want 404", err)
	}
	_, err = c.Sys().RegisterPluginDetailed(&vault.RegisterPluginInput{Type: vault.PluginTypeSecrets, Name: "custom",
		Command: "custom-plugin", SHA256: strings.Repeat("ab", 32)})
	if !isStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "external plugins are not supported") {
		t.Errorf("RegisterPlugin = %v, want 400 external plugins are not supported", err)
	}
	if err := c.Sys().DeregisterPlugin(&vault.DeregisterPluginInput{Type: vault.PluginTypeSecrets, Name: "kv"}); !isStatus(err, http.StatusBadRequest) {
		t.Errorf("DeregisterPlugin(kv) = %v, want 400", err)
	}
	// Listing the catalog below the top needs sudo, as in Vault.
	if err := c.Sys().PutPolicy("reader", `path "sys/plugins/catalog/*" { capabilities = ["read", "list"] }
path "sys/plugins/catalog" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	reader := nodetest.VaultClient(t, n.URL, tok.Auth.ClientToken)
	if _, err := reader.Sys().ListPlugins(&vault.ListPluginsInput{}); err != nil {
		t.Errorf("ListPlugins without sudo = %v", err)
	}
	if _, err := reader.Sys().GetPlugin(&vault.GetPluginInput{Type: vault.PluginTypeSecrets, Name: "kv"}); !isStatus(err, http.StatusForbidden) {
		t.Errorf("GetPlugin without sudo = %v, want 403", err)
	}
}

// Every database plugin the catalog lists is one the database engine
// accepts, so the catalog never advertises what a config write refuses.
func TestCatalogDatabasePluginsAreAccepted(t *testing.T) {
	n := nodetest.Start(t)
	c := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	if err := c.Sys().Mount("database", &vault.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	db, err := c.Sys().ListPlugins(&vault.ListPluginsInput{Type: vault.PluginTypeDatabase})
	if err != nil {
		t.Fatal(err)
	}
	urls := map[string]string{"postgresql": "postgres://{{username}}:{{password}}@127.0.0.1:1/x",
		"redis": "redis://127.0.0.1:1/0", "": "{{username}}:{{password}}@tcp(127.0.0.1:1)/x"}
	for _, name := range db.PluginsByType[vault.PluginTypeDatabase] {
		url := urls[""]
		for prefix, u := range urls {
			if prefix != "" && strings.HasPrefix(name, prefix) {
				url = u
			}
		}
		_, err := c.Logical().Write("database/config/"+name, map[string]any{"plugin_name": name, "connection_url": url,
			"username": "u", "password": "p", "verify_connection": false})
		if err != nil && strings.Contains(err.Error(), "unsupported plugin_name") {
			t.Errorf("catalog lists %s, which the engine refuses: %v", name, err)
		}
	}
}
