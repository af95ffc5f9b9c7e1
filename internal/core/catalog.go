package core

import (
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/logical"
)

// databasePlugins are the plugin_name values the database engine accepts
// (internal/engine/database/driver.go), listed in the catalog when that
// engine is registered.
var databasePlugins = []string{
	"mariadb-database-plugin", "mysql-aurora-database-plugin", "mysql-database-plugin",
	"mysql-legacy-database-plugin", "mysql-rds-database-plugin", "postgresql-database-plugin",
	"redis-database-plugin",
}

// pluginTypes are the catalog's types, as Vault names them.
var pluginTypes = []string{"auth", "database", "secret"}

// errExternalPlugins answers every attempt to register a plugin.
var errExternalPlugins = logical.BadRequest("external plugins are not supported: Keyward runs only its built-in secrets engines, auth methods and database plugins")

// catalog lists the built-in plugins by type, sorted.
func (c *Core) catalog() map[string][]string {
	names := func(m map[string]logical.Factory) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	cat := map[string][]string{"secret": names(c.engines), "auth": names(c.authMethods), "database": {}}
	if _, ok := c.engines["database"]; ok {
		cat["database"] = slices.Clone(databasePlugins)
	}
	return cat
}

func pluginVersion() string { return "v" + Version + "+builtin.keyward" }

// pluginCatalog serves sys/plugins/catalog[/TYPE[/NAME]] and the legacy
// sys/plugins/catalog/NAME: reads of the built-in plugins, in Vault's
// shapes; registering or removing a plugin is refused.
func (c *Core) pluginCatalog(req *logical.Request, rest string) (*logical.Response, error) {
	op := req.Operation
	cat := c.catalog()
	rest = strings.Trim(rest, "/")
	if rest == "" {
		if op != logical.ReadOperation {
			return nil, logical.ErrUnsupportedOperation
		}
		data := map[string]any{}
		var detailed []map[string]any
		for _, typ := range pluginTypes {
			data[typ] = cat[typ]
			for _, name := range cat[typ] {
				detailed = append(detailed, map[string]any{"name": name, "type": typ, "builtin": true,
					"version": pluginVersion(), "deprecation_status": "supported"})
			}
		}
		data["detailed"] = detailed
		return &logical.Response{Data: data}, nil
	}
	typ, name, typed := strings.Cut(rest, "/")
	if !slices.Contains(pluginTypes, typ) {
		// Vault's untyped form: sys/plugins/catalog/NAME.
		typ, name, typed = "", rest, true
	} else if !typed {
		if op != logical.ListOperation && op != logical.ReadOperation {
			return nil, logical.ErrUnsupportedOperation
		}
		return &logical.Response{Data: map[string]any{"keys": cat[typ]}}, nil
	}
	if strings.Contains(name, "/") {
		return nil, logical.Errorf(http.StatusNotFound, "unsupported path %q", "sys/plugins/catalog/"+rest)
	}
	found := ""
	for _, t := range pluginTypes {
		if (typ == "" || typ == t) && slices.Contains(cat[t], name) {
			found = t
			break
		}
	}
	switch op {
	case logical.ReadOperation:
		if found == "" {
			return nil, nil
		}
		return &logical.Response{Data: map[string]any{"name": name, "builtin": true, "command": "", "args": []string{},
			"sha256": "", "version": pluginVersion(), "deprecation_status": "supported"}}, nil
	case logical.CreateOperation, logical.UpdateOperation:
		return nil, errExternalPlugins
	case logical.DeleteOperation:
		if found != "" {
			return nil, logical.BadRequest("cannot deregister built-in plugin %q", name)
		}
		return nil, nil // nothing registered by that name, as Vault answers
	}
	return nil, logical.ErrUnsupportedOperation
}
