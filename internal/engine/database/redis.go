package database

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// redisDriver manages Redis ACL users. Its "statements" are ACL rules
// ("~app:* +@read"), one or more per statement, applied with ACL SETUSER;
// every value travels as its own protocol argument, so nothing needs
// quoting. The default grants nothing but the right to authenticate.
type redisDriver struct {
	client *redis.Client
	opts   *redis.Options
}

func openRedis(ctx context.Context, c connConfig) (driver, error) {
	u := withMarkers(c.URL.Reveal())
	if !strings.Contains(u, "://") {
		u = "redis://" + u
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		return nil, errors.New("connection_url: invalid Redis URL")
	}
	if opts.Username == userMarker || c.Username != "" {
		opts.Username = c.Username
	}
	if opts.Password == passMarker || !c.Password.Empty() {
		opts.Password = c.Password.Reveal()
	}
	opts.PoolSize = c.MaxOpenConns
	opts.MaxRetries = -1
	return &redisDriver{client: redis.NewClient(opts), opts: opts}, nil
}

func (r *redisDriver) Close() error       { return r.client.Close() }
func (r *redisDriver) UsernameLimit() int { return 0 }

// Quoting is never needed: arguments are length-prefixed on the wire.
func (r *redisDriver) Ident(v string) string                     { return v }
func (r *redisDriver) Literal(v string) string                   { return v }
func (r *redisDriver) EscapeIn(_ byte, v string) (string, error) { return v, nil }

// rules splits ACL statements into rule arguments. Rules never carry a
// placeholder: the password is added by the driver.
func redisRules(stmts []string) ([]any, error) {
	var out []any
	var fields []string
	for _, s := range stmts {
		// Vault's Redis plugin takes a JSON list of rules: ["~app:*", "+get"].
		var list []string
		if strings.HasPrefix(strings.TrimSpace(s), "[") {
			if err := json.Unmarshal([]byte(s), &list); err != nil {
				return nil, errors.New("redis statements: invalid JSON list")
			}
		} else {
			list = []string{s}
		}
		for _, l := range list {
			fields = append(fields, strings.Fields(l)...)
		}
	}
	{
		for _, f := range fields {
			if strings.HasPrefix(f, ">") || strings.HasPrefix(f, "#") || strings.HasPrefix(f, "<") ||
				f == "nopass" || f == "resetpass" || strings.Contains(f, "{{") {
				return nil, errors.New("redis statements set ACL permissions only; passwords are managed by the engine")
			}
			out = append(out, f)
		}
	}
	return out, nil
}

func validRedisUser(name string) error {
	if name == "" || strings.ContainsAny(name, " \t\r\n\x00") {
		return errors.New("redis user names cannot be empty or hold spaces")
	}
	return nil
}

func (r *redisDriver) setUser(ctx context.Context, name string, args ...any) error {
	ctx, cancel := timeoutCtx(ctx)
	defer cancel()
	cmd := append([]any{"ACL", "SETUSER", name}, args...)
	if err := r.client.Do(ctx, cmd...).Err(); err != nil {
		return fmt.Errorf("acl setuser: %w", scrub(err))
	}
	return nil
}

func (r *redisDriver) Create(ctx context.Context, stmts []string, v vars) error {
	if err := validRedisUser(v.Name); err != nil {
		return err
	}
	rules, err := redisRules(stmts)
	if err != nil {
		return err
	}
	args := append([]any{"reset", "on", ">" + v.Password}, rules...)
	return r.setUser(ctx, v.Name, args...)
}

// Renew does nothing: Redis users have no expiry.
func (r *redisDriver) Renew(context.Context, []string, vars) error { return nil }

func (r *redisDriver) Rollback(ctx context.Context, _ []string, v vars) error {
	return r.Revoke(ctx, nil, v)
}

func (r *redisDriver) Revoke(ctx context.Context, _ []string, v vars) error {
	ctx, cancel := timeoutCtx(ctx)
	defer cancel()
	if err := r.client.Do(ctx, "ACL", "DELUSER", v.Name).Err(); err != nil {
		return fmt.Errorf("acl deluser: %w", scrub(err))
	}
	// DELUSER also disconnects the user's sessions (Redis 6.2+); deleting
	// a missing user succeeds, so revocation is idempotent.
	return nil
}

func (r *redisDriver) SetPassword(ctx context.Context, stmts []string, v vars) error {
	if err := validRedisUser(v.Name); err != nil {
		return err
	}
	rules, err := redisRules(stmts)
	if err != nil {
		return err
	}
	args := append([]any{"on", "resetpass", ">" + v.Password}, rules...)
	return r.setUser(ctx, v.Name, args...)
}

func (r *redisDriver) Verify(ctx context.Context, user, password string) error {
	ctx, cancel := timeoutCtx(ctx)
	defer cancel()
	o := *r.opts
	o.Username, o.Password = user, password
	o.PoolSize = 1
	c := redis.NewClient(&o)
	defer c.Close()
	// Authentication happens when the connection opens; a user allowed no
	// commands gets NOPERM for PING, which still proves the password.
	if err := c.Ping(ctx).Err(); err != nil && !strings.HasPrefix(err.Error(), "NOPERM") {
		return scrub(err)
	}
	return nil
}
