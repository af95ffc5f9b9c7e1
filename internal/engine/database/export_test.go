package database

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

// Render exposes statement rendering to the black-box tests, with a
// quoter for plugin ("postgres", "mysql" or "redis").
func Render(plugin, stmt, name, password string) ([]string, error) {
	var q quoter = &postgres{}
	switch plugin {
	case "mysql":
		q = &mysqlDriver{}
	case "redis":
		q = &redisDriver{}
	}
	return render(q, stmt, vars{Name: name, Password: password, Expiration: "2030-01-01 00:00:00+0000", hasPass: true})
}

// NextCron parses expr and returns the next run after t.
func NextCron(expr string, t time.Time) (time.Time, error) {
	s, err := parseCron(expr)
	if err != nil {
		return time.Time{}, err
	}
	return s.next(t), nil
}

// Username renders a username template.
func Username(tmpl, display, role string, limit int, now func() time.Time) (string, error) {
	t, err := parseUsernameTemplate(tmpl, now)
	if err != nil {
		return "", err
	}
	return makeUsername(t, usernameInput{DisplayName: display, RoleName: role}, limit)
}

// Scan splits a rendered statement into quoted and unquoted parts the way a
// SQL lexer would, for the fuzz property: it returns the unquoted text and
// whether every quote was closed.
func Scan(plugin, s string) (unquoted string, balanced bool) {
	var out []byte
	var quote byte
	backslash := plugin == "mysql"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quote != 0 {
			if backslash && c == '\\' && quote != '`' {
				i++
				continue
			}
			if c == quote {
				if i+1 < len(s) && s[i+1] == quote {
					i++
					continue
				}
				quote = 0
			}
			continue
		}
		if c == '\'' || c == '"' || c == '`' {
			quote = c
			continue
		}
		if c == 'E' && i+1 < len(s) && s[i+1] == '\'' && plugin == "postgres" {
			// E'...' escape string: backslashes escape.
			j := i + 2
			for ; j < len(s); j++ {
				if s[j] == '\\' {
					j++
					continue
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						j++
						continue
					}
					break
				}
			}
			if j >= len(s) {
				return string(out), false
			}
			i = j
			continue
		}
		out = append(out, c)
	}
	return string(out), quote == 0
}

// SetPendingRoot records pw as a root password being rotated in, as if the
// server had stopped in the middle of rotate-root.
func SetPendingRoot(s logical.Storage, name, pw string) error {
	ctx := context.Background()
	c := &storedConfig{}
	if ok, err := logical.GetJSON(ctx, s, "config/"+name, c); err != nil || !ok {
		return fmt.Errorf("config %q: %v", name, err)
	}
	c.PendingPassword = pw
	return logical.PutJSON(ctx, s, "config/"+name, c)
}
