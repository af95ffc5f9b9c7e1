package database_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/engine/database"
)

func TestRenderQuotes(t *testing.T) {
	tests := []struct {
		name, plugin, stmt, user, pass string
		want                           []string
	}{
		{"bare postgres", "postgres", `CREATE ROLE {{name}} WITH LOGIN PASSWORD {{password}}`, `a"b`, `p'w`,
			[]string{`CREATE ROLE "a""b" WITH LOGIN PASSWORD 'p''w'`}},
		{"vault style postgres", "postgres", `CREATE ROLE "{{name}}" PASSWORD '{{password}}';GRANT x TO "{{name}}";`, `x"; DROP TABLE t; --`, `pw`,
			[]string{`CREATE ROLE "x""; DROP TABLE t; --" PASSWORD 'pw'`, `GRANT x TO "x""; DROP TABLE t; --"`}},
		{"postgres backslash literal", "postgres", `ALTER ROLE {{name}} PASSWORD {{password}}`, `u`, `a\'b`,
			[]string{`ALTER ROLE "u" PASSWORD E'a\\''b'`}},
		{"dollar body keeps semicolons", "postgres", `DO $$BEGIN EXECUTE 'x;y'; END$$; SELECT '{{name}}'`, `n`, ``,
			[]string{`DO $$BEGIN EXECUTE 'x;y'; END$$`, `SELECT 'n'`}},
		{"mysql account", "mysql", `CREATE USER {{name}}@'%' IDENTIFIED BY {{password}}`, `o'neil\`, `p"w'`,
			[]string{`CREATE USER 'o''neil\\'@'%' IDENTIFIED BY 'p"w'''`}},
		{"mysql backtick", "mysql", "GRANT SELECT ON `db`.* TO '{{name}}'@'%'", "a`b';", ``,
			[]string{"GRANT SELECT ON `db`.* TO 'a`b'';'@'%'"}},
		{"username alias", "postgres", `DROP ROLE {{username}}`, `u`, ``, []string{`DROP ROLE "u"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := database.Render(tt.plugin, tt.stmt, tt.user, tt.pass)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Render(%q) =\n%q\nwant\n%q", tt.stmt, got, tt.want)
			}
		})
	}
}

func TestRenderRejects(t *testing.T) {
	tests := []struct{ name, plugin, stmt, user string }{
		{"unterminated quote", "postgres", `CREATE ROLE "{{name}}`, "u"},
		{"dollar in dollar body", "postgres", `DO $$ BEGIN PERFORM '{{name}}'; END $$`, "a$$b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := database.Render(tt.plugin, tt.stmt, tt.user, "pw"); err == nil {
				t.Fatalf("Render = %q, want an error", got)
			}
		})
	}
}

// FuzzRender: whatever the name and password, substituting them never adds
// a statement, never leaves a quote open, and leaves the text outside quotes
// exactly as the template wrote it.
func FuzzRender(f *testing.F) {
	f.Add("postgres", `CREATE ROLE "{{name}}" WITH PASSWORD '{{password}}'`, `a"b;c`, `p'w\`)
	f.Add("postgres", `CREATE ROLE {{name}} PASSWORD {{password}}`, "é ünïcode", `\\'`)
	f.Add("mysql", `CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'`, `o'neil\`, "a\x00b")
	f.Add("mysql", "GRANT ALL ON `{{name}}`.* TO {{name}}@'%'", "x`; DROP", "p")
	f.Fuzz(func(t *testing.T, plugin, stmt, name, pass string) {
		if plugin != "postgres" && plugin != "mysql" {
			return
		}
		base, err := database.Render(plugin, stmt, "N", "P")
		if err != nil {
			return
		}
		got, err := database.Render(plugin, stmt, name, pass)
		if err != nil {
			return // refusing a value is always safe
		}
		if len(got) != len(base) {
			t.Fatalf("values changed the statement count: %d vs %d", len(got), len(base))
		}
		for i := range got {
			gu, gok := database.Scan(plugin, got[i])
			bu, bok := database.Scan(plugin, base[i])
			if gok != bok {
				t.Fatalf("values unbalanced quotes in %q", got[i])
			}
			if gu != bu {
				t.Fatalf("text outside quotes changed: %q vs %q", gu, bu)
			}
		}
	})
}

func TestUsernameTemplate(t *testing.T) {
	now := func() time.Time { return time.Unix(1700000000, 0) }
	u, err := database.Username("", "token-display", "readonly-role-long", 63, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, "v-token-di-readonly-") || !strings.HasSuffix(u, "-1700000000") || len(u) > 63 {
		t.Errorf("default username = %q", u)
	}
	long, err := database.Username(`{{.RoleName}}-{{random 40}}`, "d", strings.Repeat("é", 40), 63, now)
	if err != nil || len(long) > 63 || !strings.HasPrefix(long, "é") {
		t.Errorf("truncated username = %q (%d bytes), %v", long, len(long), err)
	}
	if s := []rune(long); string(s) != long {
		t.Errorf("truncation split a character: %q", long)
	}
	if _, err := database.Username(`{{.Nope}}`, "d", "r", 0, now); err == nil {
		t.Error("unknown field accepted")
	}
	if _, err := database.Username(`{{`, "d", "r", 0, now); err == nil {
		t.Error("bad template accepted")
	}
	if u, _ := database.Username(`{{.RoleName | uppercase | replace "A" "b"}}`, "d", "aa", 0, now); u != "bb" {
		t.Errorf("pipeline = %q", u)
	}
}

func TestCron(t *testing.T) {
	base := time.Date(2026, 3, 14, 10, 30, 0, 0, time.UTC) // a Saturday
	tests := []struct {
		expr string
		want time.Time
	}{
		{"* * * * *", base.Add(time.Minute)},
		{"0 * * * *", time.Date(2026, 3, 14, 11, 0, 0, 0, time.UTC)},
		{"*/15 * * * *", time.Date(2026, 3, 14, 10, 45, 0, 0, time.UTC)},
		{"0 0 * * 0", time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)},
		{"0 0 * * 7", time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)},
		{"30 2 1 * *", time.Date(2026, 4, 1, 2, 30, 0, 0, time.UTC)},
		{"0 9-17/4 * * 1-5", time.Date(2026, 3, 16, 9, 0, 0, 0, time.UTC)},
		{"0 0 13 * 5", time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)}, // dom or dow
		{"0 0 29 2 *", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"5,10 0 1 1 *", time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := database.NextCron(tt.expr, base)
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("next(%q) = %v, %v; want %v", tt.expr, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
		"*/0 * * * *", "5-1 * * * *", "a * * * *", "1,,2 * * * *"} {
		if _, err := database.NextCron(bad, base); err == nil {
			t.Errorf("parseCron(%q) accepted", bad)
		}
	}
	if got, err := database.NextCron("0 0 30 2 *", base); err != nil || !got.IsZero() {
		t.Errorf("impossible date = %v, %v; want zero time", got, err)
	}
}

// FuzzCron: the parser never panics and next is always a later, matching
// minute (checked by asking again from one minute before).
func FuzzCron(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/5 1-3 * 2,4 1-5", "0 0 29 2 *", "59 23 31 12 7", "1-59/7 */2 ? * ?"} {
		f.Add(s)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		next, err := database.NextCron(expr, base)
		if err != nil || next.IsZero() {
			return
		}
		if !next.After(base) || next.Second() != 0 {
			t.Fatalf("next(%q) = %v, not a later whole minute", expr, next)
		}
		again, _ := database.NextCron(expr, next.Add(-time.Minute))
		if !again.Equal(next) {
			t.Fatalf("next(%q) not stable: %v vs %v", expr, next, again)
		}
	})
}
