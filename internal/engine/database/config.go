package database

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/logical"
	"github.com/keyward/keyward/internal/sensitive"
)

// dbConfig is one database connection. Password and PendingPassword are
// secrets: they are never returned by a read. URL may hold a password too.
// The three are sensitive, so they never reach a log or an error; they are
// persisted, in plain behind the barrier, only through storedConfig.
type dbConfig struct {
	Plugin           string           `json:"plugin_name"`
	URL              sensitive.String `json:"-"`
	Username         string           `json:"username"`
	Password         sensitive.String `json:"-"`
	AllowedRoles     []string         `json:"allowed_roles"`
	MaxOpenConns     int              `json:"max_open_connections"`
	VerifyConnection bool             `json:"verify_connection"`
	PasswordPolicy   string           `json:"password_policy"`
	UsernameTemplate string           `json:"username_template"`
	RootRotation     []string         `json:"root_rotation_statements"`
	// PendingPassword is a root password being rotated in: stored before
	// it is applied, promoted once it works (T44).
	PendingPassword sensitive.String `json:"-"`
}

// storedConfig is a dbConfig as persisted, with its secrets revealed under
// the keys they have always been stored by.
type storedConfig struct {
	dbConfig
	URL             string `json:"connection_url"`
	Password        string `json:"password"`
	PendingPassword string `json:"pending_password,omitempty"`
}

var configFields = configDocs.Names()

func (b *Backend) loadConfig(ctx context.Context, name string) (*dbConfig, bool, error) {
	var s storedConfig
	ok, err := logical.GetJSON(ctx, b.view, "config/"+name, &s)
	c := &s.dbConfig
	c.URL, c.Password, c.PendingPassword = sensitive.NewString(s.URL), sensitive.NewString(s.Password), sensitive.NewString(s.PendingPassword)
	return c, ok, err
}

func (b *Backend) saveConfig(ctx context.Context, name string, c *dbConfig) error {
	return logical.PutJSON(ctx, b.view, "config/"+name, storedConfig{dbConfig: *c,
		URL: c.URL.Reveal(), Password: c.Password.Reveal(), PendingPassword: c.PendingPassword.Reveal()})
}

func (b *Backend) readConfig(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	c, ok, err := b.loadConfig(ctx, name)
	if err != nil || !ok {
		return nil, orNotFound(err, "config", name)
	}
	return &logical.Response{Data: map[string]any{
		"plugin_name": c.Plugin,
		"connection_details": map[string]any{
			"connection_url":       c.URL.Reveal(), // returned as written, as Vault does
			"username":             c.Username,
			"max_open_connections": c.MaxOpenConns,
		},
		"allowed_roles":                      c.AllowedRoles,
		"password_policy":                    c.PasswordPolicy,
		"root_credentials_rotate_statements": c.RootRotation,
		"verify_connection":                  c.VerifyConnection,
		"username_template":                  c.UsernameTemplate,
	}}, nil
}

func (b *Backend) deleteConfig(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	b.rotMu.Lock()
	defer b.rotMu.Unlock()
	if err := b.view.Delete(ctx, "config/"+name); err != nil {
		return nil, err
	}
	b.dropConn(name)
	return nil, nil
}

func (b *Backend) writeConfigReq(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	return nil, b.writeConfig(ctx, req, name)
}

func (b *Backend) writeConfig(ctx context.Context, req *logical.Request, name string) error {
	d := req.Data
	if err := logical.UnknownFields(d, configFields...); err != nil {
		return err
	}
	b.rotMu.Lock()
	defer b.rotMu.Unlock()
	c, exists, err := b.loadConfig(ctx, name)
	if err != nil {
		return err
	}
	if !exists {
		c = &dbConfig{VerifyConnection: true}
	}
	str := func(key string, dst *string) error {
		v, ok, err := logical.Str(d, key)
		if ok {
			*dst = v
		}
		return err
	}
	for key, dst := range map[string]*string{"plugin_name": &c.Plugin,
		"username": &c.Username, "password_policy": &c.PasswordPolicy, "username_template": &c.UsernameTemplate} {
		if err := str(key, dst); err != nil {
			return err
		}
	}
	if v, ok, err := logical.Str(d, "connection_url"); err != nil {
		return err
	} else if ok {
		c.URL = sensitive.NewString(v)
	}
	if v, ok, err := logical.Str(d, "password"); err != nil {
		return err
	} else if ok {
		c.Password, c.PendingPassword = sensitive.NewString(v), sensitive.String{}
	}
	if v, ok, err := logical.Strings(d, "allowed_roles"); err != nil {
		return err
	} else if ok {
		c.AllowedRoles = v
	}
	if v, ok, err := logical.Strings(d, "root_rotation_statements"); err != nil {
		return err
	} else if ok {
		c.RootRotation = v
	}
	if v, ok, err := logical.Int(d, "max_open_connections"); err != nil {
		return err
	} else if ok {
		if v < 0 || v > 1000 {
			return logical.BadRequest("field \"max_open_connections\" must be between 0 and 1000")
		}
		c.MaxOpenConns = v
	}
	// Accepted for Vault clients (the Terraform provider sends them) only
	// at values that ask for nothing Keyward would then ignore.
	if v, ok, err := logical.Int(d, "max_idle_connections"); err != nil {
		return err
	} else if ok && v != 0 {
		return logical.BadRequest("field \"max_idle_connections\" is not supported (connections are not pooled idle); leave it 0")
	}
	if v, ok, err := logical.Duration(d, "max_connection_lifetime"); err != nil {
		return err
	} else if ok && v != 0 {
		return logical.BadRequest("field \"max_connection_lifetime\" is not supported; leave it 0")
	}
	if v, ok, err := logical.Str(d, "plugin_version"); err != nil {
		return err
	} else if ok && v != "" && !strings.Contains(v, "builtin") {
		return logical.BadRequest("field \"plugin_version\": only the built-in plugins exist")
	}
	if v, ok, err := logical.Bool(d, "verify_connection"); err != nil {
		return err
	} else if ok {
		c.VerifyConnection = v
	}
	if c.Plugin == "" {
		return logical.BadRequest("missing plugin_name")
	}
	if c.URL.Empty() {
		return logical.BadRequest("missing connection_url")
	}
	if _, err := parseUsernameTemplate(c.UsernameTemplate, b.opts.Now); err != nil {
		return logical.BadRequest("%s", err.Error())
	}
	if c.PasswordPolicy != "" {
		if _, err := b.password(ctx, c.PasswordPolicy); err != nil {
			return err
		}
	}
	drv, err := openDriver(ctx, c.connConfig(c.Password))
	if err != nil {
		return logical.BadRequest("%s", err.Error())
	}
	if c.VerifyConnection {
		if err := drv.Verify(ctx, c.adminUser(drv), c.Password.Reveal()); err != nil {
			drv.Close()
			return logical.BadRequest("verify connection: %s", err.Error())
		}
	}
	if err := b.saveConfig(ctx, name, c); err != nil {
		drv.Close()
		return err
	}
	b.setConn(name, drv)
	return nil
}

func (c *dbConfig) connConfig(password sensitive.String) connConfig {
	return connConfig{Plugin: c.Plugin, URL: c.URL, Username: c.Username, Password: password, MaxOpenConns: c.MaxOpenConns}
}

// adminUser is the user the engine connects as (the URL's when no
// username is configured).
func (c *dbConfig) adminUser(d driver) string {
	if c.Username != "" {
		return c.Username
	}
	switch t := d.(type) {
	case *postgres:
		return t.conf.User
	case *mysqlDriver:
		return t.conf.User
	case *redisDriver:
		return t.opts.Username
	}
	return ""
}

func (b *Backend) connFor(name string) *conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.conns[name]
	if c == nil {
		c = &conn{}
		b.conns[name] = c
	}
	return c
}

// setConn installs d as the open connection of config name.
func (b *Backend) setConn(name string, d driver) {
	c := b.connFor(name)
	c.lock.Lock()
	if c.d != nil {
		c.d.Close()
	}
	c.d = d
	c.lock.Unlock()
}

func (b *Backend) dropConn(name string) { b.setConn(name, nil) }

// use runs f with the admin connection of config name, opening it on first
// use. A root rotation interrupted by a crash is settled here: if the
// stored password no longer works but the pending one does, the pending one
// is promoted.
func (b *Backend) use(ctx context.Context, name string, f func(driver, *dbConfig) error) error {
	_, ok, err := b.loadConfig(ctx, name)
	if err != nil {
		return err
	}
	if !ok {
		return logical.BadRequest("database config %q not found", name)
	}
	c := b.connFor(name)
	c.lock.RLock()
	if c.d == nil {
		c.lock.RUnlock()
		if err := b.open(ctx, name, c); err != nil {
			return err
		}
		c.lock.RLock()
		if c.d == nil {
			c.lock.RUnlock()
			return fmt.Errorf("database %q: connection closed", name)
		}
	}
	defer c.lock.RUnlock()
	cfg, _, err := b.loadConfig(ctx, name) // may have been promoted by open
	if err != nil {
		return err
	}
	return f(c.d, cfg)
}

func (b *Backend) open(ctx context.Context, name string, c *conn) error {
	c.lock.Lock()
	defer c.lock.Unlock()
	if c.d != nil {
		return nil
	}
	cfg, ok, err := b.loadConfig(ctx, name)
	if err != nil || !ok {
		return orNotFound(err, "config", name)
	}
	d, err := openDriver(ctx, cfg.connConfig(cfg.Password))
	if err != nil {
		return fmt.Errorf("database %q: %w", name, err)
	}
	if !cfg.PendingPassword.Empty() {
		d, err = b.settleRoot(ctx, name, cfg, d)
		if err != nil {
			return err
		}
	}
	c.d = d
	return nil
}

// settleRoot resolves a root rotation that did not finish: whichever of
// the stored and pending passwords works is kept.
func (b *Backend) settleRoot(ctx context.Context, name string, cfg *dbConfig, d driver) (driver, error) {
	user := cfg.adminUser(d)
	if err := d.Verify(ctx, user, cfg.Password.Reveal()); err == nil {
		cfg.PendingPassword = sensitive.String{}
		b.logger.Warn("root rotation had not been applied; keeping the stored password", "config", name)
		return d, b.saveConfig(ctx, name, cfg)
	}
	if err := d.Verify(ctx, user, cfg.PendingPassword.Reveal()); err != nil {
		d.Close()
		return nil, fmt.Errorf("database %q: neither the stored nor the pending root password works: %w", name, err)
	}
	d.Close()
	cfg.Password, cfg.PendingPassword = cfg.PendingPassword, sensitive.String{}
	if err := b.saveConfig(ctx, name, cfg); err != nil {
		return nil, err
	}
	b.logger.Info("root rotation completed after restart", "config", name)
	return openDriver(ctx, cfg.connConfig(cfg.Password))
}

// rotateRoot changes the engine's own admin password. The new password is
// stored as pending before it is applied, so after a crash at any point
// either the old or the new one is on record and settleRoot finds which.
func (b *Backend) rotateRoot(ctx context.Context, name string) error {
	b.rotMu.Lock()
	defer b.rotMu.Unlock()
	cfg, ok, err := b.loadConfig(ctx, name)
	if err != nil || !ok {
		return orNotFound(err, "config", name)
	}
	if cfg.Username == "" {
		return logical.BadRequest("rotate-root needs the config's username field")
	}
	if cfg.PendingPassword.Empty() {
		pw, err := b.password(ctx, cfg.PasswordPolicy)
		if err != nil {
			return err
		}
		cfg.PendingPassword = sensitive.NewString(pw)
		if err := b.saveConfig(ctx, name, cfg); err != nil {
			return err
		}
	}
	c := b.connFor(name)
	c.lock.Lock() // no credential is issued while the admin password changes
	defer c.lock.Unlock()
	d := c.d
	if d == nil {
		if d, err = openDriver(ctx, cfg.connConfig(cfg.Password)); err != nil {
			b.met.rotationFailures.Inc()
			b.logger.Error("root rotation failed", "config", name, "err", err)
			return fmt.Errorf("database %q: %w", name, err)
		}
	}
	stmts := cfg.RootRotation
	if my, ok := d.(*mysqlDriver); ok && len(stmts) == 0 {
		if stmts, err = my.rootRotation(ctx); err != nil {
			b.met.rotationFailures.Inc()
			b.logger.Error("root rotation failed", "config", name, "err", err)
			if c.d == nil {
				d.Close()
			}
			return logical.Errorf(http.StatusInternalServerError, "rotate-root %q: %v", name, err)
		}
	}
	v := vars{Name: cfg.Username, Password: cfg.PendingPassword.Reveal(), hasPass: true}
	if err := d.SetPassword(ctx, stmts, v); err != nil {
		// The pending password stays on record; a retry applies the same one.
		b.met.rotationFailures.Inc()
		b.logger.Error("root rotation failed", "config", name, "err", err)
		if c.d == nil {
			d.Close()
		}
		return logical.Errorf(http.StatusInternalServerError, "rotate-root %q: %v", name, err)
	}
	d.Close()
	c.d = nil
	cfg.Password, cfg.PendingPassword = cfg.PendingPassword, sensitive.String{}
	if err := b.saveConfig(ctx, name, cfg); err != nil {
		return err
	}
	nd, err := openDriver(ctx, cfg.connConfig(cfg.Password))
	if err != nil {
		return err
	}
	c.d = nd
	b.met.rotations.Inc()
	b.logger.Info("root credentials rotated", "config", name, "at", b.opts.Now().UTC().Format(time.RFC3339))
	return nil
}
