package database

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// role is a dynamic role: each read of creds/NAME creates a user.
type role struct {
	DBName     string        `json:"db_name"`
	Creation   []string      `json:"creation_statements"`
	Revocation []string      `json:"revocation_statements"`
	Rollback   []string      `json:"rollback_statements"`
	Renew      []string      `json:"renew_statements"`
	DefaultTTL time.Duration `json:"default_ttl"`
	MaxTTL     time.Duration `json:"max_ttl"`
}

var roleFields = roleDocs.Names()

func (b *Backend) loadRole(ctx context.Context, name string) (*role, bool, error) {
	r := &role{}
	ok, err := logical.GetJSON(ctx, b.view, "role/"+name, r)
	return r, ok, err
}

func (b *Backend) readRole(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	r, ok, err := b.loadRole(ctx, name)
	if err != nil || !ok {
		return nil, orNotFound(err, "role", name)
	}
	return &logical.Response{Data: map[string]any{
		"db_name":               r.DBName,
		"creation_statements":   nonNil(r.Creation),
		"revocation_statements": nonNil(r.Revocation),
		"rollback_statements":   nonNil(r.Rollback),
		"renew_statements":      nonNil(r.Renew),
		"default_ttl":           int64(r.DefaultTTL / time.Second),
		"max_ttl":               int64(r.MaxTTL / time.Second),
		"credential_type":       "password",
	}}, nil
}

func (b *Backend) deleteRole(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	return nil, b.view.Delete(ctx, "role/"+name)
}

func (b *Backend) writeRoleReq(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	return nil, b.writeRole(ctx, req.Data, name)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (b *Backend) writeRole(ctx context.Context, d map[string]any, name string) error {
	if err := logical.UnknownFields(d, roleFields...); err != nil {
		return err
	}
	if ct, _, err := logical.Str(d, "credential_type"); err != nil {
		return err
	} else if ct != "" && ct != "password" {
		return logical.BadRequest("field \"credential_type\": only \"password\" is supported")
	}
	r, _, err := b.loadRole(ctx, name)
	if err != nil {
		return err
	}
	if v, ok, err := logical.Str(d, "db_name"); err != nil {
		return err
	} else if ok {
		r.DBName = v
	}
	for key, dst := range map[string]*[]string{"creation_statements": &r.Creation,
		"revocation_statements": &r.Revocation, "rollback_statements": &r.Rollback, "renew_statements": &r.Renew} {
		v, ok, err := logical.Strings(d, key)
		if err != nil {
			return err
		}
		if ok {
			*dst = v
		}
	}
	for key, dst := range map[string]*time.Duration{"default_ttl": &r.DefaultTTL, "max_ttl": &r.MaxTTL} {
		v, ok, err := logical.Duration(d, key)
		if err != nil {
			return err
		}
		if ok {
			*dst = v
		}
	}
	if r.DBName == "" {
		return logical.BadRequest("missing db_name")
	}
	if r.MaxTTL > 0 && r.DefaultTTL > r.MaxTTL {
		return logical.BadRequest("default_ttl cannot exceed max_ttl")
	}
	// Statements must render: catch unbalanced quotes at write time.
	probe := vars{Name: "probe", Password: "probe", Expiration: "2000-01-01 00:00:00+0000", hasPass: true}
	for key, stmts := range map[string][]string{"creation_statements": r.Creation, "revocation_statements": r.Revocation,
		"rollback_statements": r.Rollback, "renew_statements": r.Renew} {
		if _, err := renderAll(&postgres{}, stmts, probe); err != nil {
			return logical.BadRequest("%s: %v", key, err)
		}
	}
	return logical.PutJSON(ctx, b.view, "role/"+name, r)
}

func (b *Backend) creds(ctx context.Context, req *logical.Request, name string) (*logical.Response, error) {
	r, ok, err := b.loadRole(ctx, name)
	if err != nil || !ok {
		return nil, orNotFound(err, "role", name)
	}
	cfg, ok, err := b.loadConfig(ctx, r.DBName)
	if err != nil || !ok {
		return nil, orNotFound(err, "database config", r.DBName)
	}
	if !allowed(cfg.AllowedRoles, name) {
		return nil, logical.BadRequest("role %q is not allowed by database config %q", name, r.DBName)
	}
	maxTTL := r.MaxTTL
	if mt := req.MountConfig.MaxLeaseTTL; mt > 0 && (maxTTL <= 0 || maxTTL > mt) {
		maxTTL = mt
	}
	ttl := r.DefaultTTL
	if ttl <= 0 {
		ttl = req.MountConfig.DefaultLeaseTTL
	}
	if maxTTL > 0 && (ttl <= 0 || ttl > maxTTL) {
		ttl = maxTTL
	}
	if ttl <= 0 {
		return nil, logical.BadRequest("role %q has no TTL and the mount gives none", name)
	}
	tmpl, err := parseUsernameTemplate(cfg.UsernameTemplate, b.opts.Now)
	if err != nil {
		return nil, err
	}
	display := "token"
	if req.Token != nil && req.Token.DisplayName != "" {
		display = req.Token.DisplayName
	}
	password, err := b.password(ctx, cfg.PasswordPolicy)
	if err != nil {
		return nil, err
	}
	var username string
	err = b.use(ctx, r.DBName, func(d driver, _ *dbConfig) error {
		username, err = makeUsername(tmpl, usernameInput{DisplayName: display, RoleName: name}, d.UsernameLimit())
		if err != nil {
			return logical.BadRequest("%s", err.Error())
		}
		v := vars{Name: username, Password: password, hasPass: true,
			Expiration: b.opts.Now().Add(ttl).UTC().Format(expirationFormat)}
		if err := d.Create(ctx, r.Creation, v); err != nil {
			if rerr := d.Rollback(ctx, r.Rollback, v); rerr != nil {
				b.logger.Error("rollback after failed creation", "role", name, "err", rerr)
			}
			return logical.Errorf(http.StatusInternalServerError, "create user for role %q: %v", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &logical.Response{
		Data: map[string]any{"username": username, "password": password},
		Secret: &logical.Secret{TTL: ttl, MaxTTL: maxTTL, Renewable: true, InternalData: map[string]any{
			"username":              username,
			"role":                  name,
			"db_name":               r.DBName,
			"revocation_statements": r.Revocation,
			"renew_statements":      r.Renew,
		}},
	}, nil
}

func internalStr(s *logical.Secret, key string) string {
	v, _ := s.InternalData[key].(string)
	return v
}

// Revoke drops the user behind a lease.
func (b *Backend) Revoke(ctx context.Context, _ *logical.Request, s *logical.Secret) error {
	user, db := internalStr(s, "username"), internalStr(s, "db_name")
	if user == "" || db == "" {
		return fmt.Errorf("lease %s: missing user or database in internal data", s.LeaseID)
	}
	return b.use(ctx, db, func(d driver, _ *dbConfig) error {
		if err := d.Revoke(ctx, toStrings(s.InternalData["revocation_statements"]), vars{Name: user}); err != nil {
			return fmt.Errorf("revoke user of lease %s: %w", s.LeaseID, err)
		}
		return nil
	})
}

// Renew extends the user's validity in the database to s.TTL from now (the
// lease manager has already capped it at the max TTL).
func (b *Backend) Renew(ctx context.Context, _ *logical.Request, s *logical.Secret) (*logical.Secret, error) {
	user, db := internalStr(s, "username"), internalStr(s, "db_name")
	if user == "" || db == "" {
		return nil, fmt.Errorf("lease %s: missing user or database in internal data", s.LeaseID)
	}
	exp := b.opts.Now().Add(s.TTL).UTC().Format(expirationFormat)
	err := b.use(ctx, db, func(d driver, _ *dbConfig) error {
		return d.Renew(ctx, toStrings(s.InternalData["renew_statements"]), vars{Name: user, Expiration: exp})
	})
	if err != nil {
		return nil, fmt.Errorf("renew user of lease %s: %w", s.LeaseID, err)
	}
	return s, nil
}
