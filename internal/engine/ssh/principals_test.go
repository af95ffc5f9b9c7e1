package ssh

import (
	"sort"
	"strings"
	"testing"
)

func TestPrincipalPolicyPermits(t *testing.T) {
	users := principalPolicy{allowed: splitList("alice, bob,deploy-bot")}
	anyUser := principalPolicy{allowed: splitList("*"), anyOK: true}
	bare := principalPolicy{allowed: splitList("example.com"), host: true, bare: true}
	sub := principalPolicy{allowed: splitList("example.com"), host: true, sub: true}
	both := principalPolicy{allowed: splitList("example.com,corp.internal"), host: true, bare: true, sub: true}
	neither := principalPolicy{allowed: splitList("example.com"), host: true}
	anyHost := principalPolicy{allowed: splitList("*"), anyOK: true, host: true}
	cases := []struct {
		name string
		pp   principalPolicy
		p    string
		want bool
	}{
		{"user listed", users, "alice", true},
		{"user listed with spaces in list", users, "bob", true},
		{"user with dash", users, "deploy-bot", true},
		{"user not listed", users, "mallory", false},
		{"user prefix of listed", users, "ali", false},
		{"user listed is prefix", users, "alice2", false},
		{"user case differs", users, "Alice", false},
		{"user glob not expanded", users, "al*", false},
		{"user star itself", users, "*", false},
		{"user with trailing space", users, "alice ", false},
		{"user with newline", users, "alice\nroot", false},
		{"user empty", users, "", false},
		{"user with comma", users, "alice,root", false},
		{"any user", anyUser, "root", true},
		{"any user still refuses pattern", anyUser, "ro*t", false},
		{"any user still refuses negation", anyUser, "!alice", false},
		{"bare exact", bare, "example.com", true},
		{"bare refuses subdomain", bare, "www.example.com", false},
		{"bare refuses trailing dot", bare, "example.com.", false},
		{"bare refuses case", bare, "EXAMPLE.com", false},
		{"sub one label", sub, "www.example.com", true},
		{"sub two labels", sub, "a.b.example.com", true},
		{"sub refuses bare", sub, "example.com", false},
		{"sub refuses suffix without dot", sub, "badexample.com", false},
		{"sub refuses empty label", sub, ".example.com", false},
		{"sub refuses double dot", sub, "a..example.com", false},
		{"sub refuses wildcard", sub, "*.example.com", false},
		{"sub refuses question mark", sub, "?.example.com", false},
		{"sub refuses other domain", sub, "example.org", false},
		{"sub refuses domain as label", sub, "example.com.evil.org", false},
		{"sub refuses trailing dot", sub, "www.example.com.", false},
		{"sub refuses space", sub, "a b.example.com", false},
		{"sub refuses a slash in the labels", sub, "x.evil.com/.example.com", false},
		{"sub refuses a colon in the labels", sub, "evil.com:22.example.com", false},
		{"sub refuses an at sign", sub, "root@x.example.com", false},
		{"sub refuses non-ASCII labels", sub, "exаmple.example.com", false},
		{"sub allows hyphen and underscore", sub, "a-b_c.example.com", true},
		{"both bare", both, "corp.internal", true},
		{"both sub of second", both, "db.corp.internal", true},
		{"both refuses parent", both, "internal", false},
		{"both refuses tld", both, "com", false},
		{"neither flag refuses exact", neither, "example.com", false},
		{"neither flag refuses subdomain", neither, "www.example.com", false},
		{"any host", anyHost, "anything.at.all", true},
		{"any host refuses glob", anyHost, "*", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.pp.permits(c.p); got != c.want {
				t.Errorf("%+v.permits(%q) = %v, want %v", c.pp, c.p, got, c.want)
			}
		})
	}
}

func TestPrincipalPolicyPrincipals(t *testing.T) {
	cases := []struct {
		name      string
		pp        principalPolicy
		requested []string
		want      string // joined with ","; "" with wantErr unset: no principals
		wantErr   string
	}{
		{"default user", principalPolicy{allowed: []string{"ops"}, def: "ops"}, nil, "ops", ""},
		{"requested wins over default", principalPolicy{allowed: []string{"ops", "dev"}, def: "ops"}, []string{"dev"}, "dev", ""},
		{"duplicates collapse", principalPolicy{allowed: []string{"ops"}}, []string{"ops", "ops"}, "ops", ""},
		{"one bad refuses all", principalPolicy{allowed: []string{"ops"}}, []string{"ops", "root"}, "", "not a valid value"},
		{"default not allowed", principalPolicy{allowed: []string{"ops"}, def: "root"}, nil, "", "not a valid value"},
		{"empty refused", principalPolicy{allowed: []string{"ops"}}, nil, "", "empty valid principals"},
		{"empty allowed by role", principalPolicy{allowed: []string{"ops"}, emptyOK: true}, nil, "", ""},
		{"role allows nothing", principalPolicy{}, []string{"ops"}, "", "not configured to allow any"},
		{"any", principalPolicy{anyOK: true}, []string{"x", "y"}, "x,y", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.pp.principals(c.requested)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("principals(%q) = %q, %v; want error containing %q", c.requested, got, err, c.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != c.want {
				t.Fatalf("principals(%q) = %q, %v; want %q", c.requested, got, err, c.want)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	defs := map[string]string{"permit-pty": ""}
	cases := []struct {
		name           string
		requested      map[string]string
		allowed        string
		emptyAllowsAll bool
		keepDefaults   bool
		want           string // sorted keys
		wantErr        bool
	}{
		{"defaults when none requested", nil, "", false, false, "permit-pty", false},
		{"extensions: empty list allows none", map[string]string{"permit-pty": ""}, "", false, false, "", true},
		{"extensions: listed", map[string]string{"permit-pty": ""}, "permit-pty,permit-agent-forwarding", false, false, "permit-pty", false},
		{"extensions: unlisted", map[string]string{"permit-X11-forwarding": ""}, "permit-pty", false, false, "", true},
		{"extensions: star", map[string]string{"anything": ""}, "*", false, false, "anything", false},
		{"critical: empty allows all", map[string]string{"force-command": "/bin/true"}, "", true, false, "force-command", false},
		{"critical: unlisted", map[string]string{"force-command": "/bin/true"}, "source-address", true, false, "", true},
		{"requested replaces defaults", map[string]string{"permit-agent-forwarding": ""}, "*", false, false, "permit-agent-forwarding", false},
		{"critical: requested adds to the defaults", map[string]string{"force-command": "/bin/true"}, "", true, true, "force-command,permit-pty", false},
		{"critical: defaults kept when none requested", nil, "", true, true, "permit-pty", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := options("x", c.requested, defs, c.allowed, c.emptyAllowsAll, c.keepDefaults)
			if c.wantErr {
				if err == nil {
					t.Fatalf("options(%v, %q) = %v, want error", c.requested, c.allowed, got)
				}
				return
			}
			var keys []string
			for k := range got {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if err != nil || strings.Join(keys, ",") != c.want {
				t.Fatalf("options(%v, %q) = %v, %v; want keys %q", c.requested, c.allowed, got, err, c.want)
			}
		})
	}
}

func TestRenderKeyID(t *testing.T) {
	v := keyIDVars{DisplayName: "token", RoleName: "ops", PublicKeyHash: "abc"}
	for in, want := range map[string]string{
		defaultKeyIDFormat:              "vault-token-abc",
		"{{ role_name }}@{{role_name}}": "ops@ops",
		"plain":                         "plain",
	} {
		if got, err := renderKeyID(in, v); err != nil || got != want {
			t.Errorf("renderKeyID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"{{identity.entity.id}}", "{{role_name", "x}}"} {
		if got, err := renderKeyID(bad, v); err == nil {
			t.Errorf("renderKeyID(%q) = %q, want error", bad, got)
		}
	}
}

// FuzzPrincipalPolicy checks the safety property of the principal rules:
// whatever the role lists and whatever is requested, an accepted principal
// is listed exactly (users, bare domains) or is labels + "." + a listed
// domain (subdomains), and never holds a pattern character.
func FuzzPrincipalPolicy(f *testing.F) {
	f.Add("example.com,corp.internal", "www.example.com", true, true, true)
	f.Add("alice,bob", "alice", false, false, false)
	f.Add("example.com", "*.example.com", true, false, true)
	f.Add("*", "x", true, true, true)
	f.Fuzz(func(t *testing.T, allowed, p string, host, bare, sub bool) {
		pp := principalPolicy{allowed: splitList(allowed), anyOK: allowed == anyValue, host: host, bare: bare, sub: sub}
		if !pp.permits(p) {
			return
		}
		if strings.ContainsAny(p, "*?!, \t\r\n") || p == "" {
			t.Fatalf("accepted pattern-like principal %q (allowed %q)", p, allowed)
		}
		if pp.anyOK {
			return
		}
		for _, a := range pp.allowed {
			if (!host || bare) && p == a {
				return
			}
			if host && sub && strings.HasSuffix(p, "."+a) && !strings.HasPrefix(p, ".") && !strings.Contains(strings.TrimSuffix(p, "."+a), "..") {
				return
			}
		}
		t.Fatalf("permits(%q) with allowed %q host=%v bare=%v sub=%v: not covered by any entry", p, allowed, host, bare, sub)
	})
}

// FuzzRenderKeyID: a format without template markers renders to itself,
// and a rendered one holds each variable's value where its template was
// (checked by rendering with distinct marker values), never a template.
func FuzzRenderKeyID(f *testing.F) {
	f.Add(defaultKeyIDFormat)
	f.Add("{{role_name}}-{{ token_display_name }}")
	f.Add("plain")
	f.Add("{{x}}")
	f.Fuzz(func(t *testing.T, format string) {
		v := keyIDVars{DisplayName: "\x00D\x00", RoleName: "\x00R\x00", PublicKeyHash: "\x00H\x00"}
		got, err := renderKeyID(format, v)
		if err != nil {
			return
		}
		if !strings.Contains(format, "{{") && got != format {
			t.Fatalf("renderKeyID(%q) = %q, want it unchanged", format, got)
		}
		// Removing the rendered values leaves the format's literal text.
		lit := strings.NewReplacer("\x00D\x00", "", "\x00R\x00", "", "\x00H\x00", "").Replace(got)
		if strings.Contains(format, "\x00") {
			return
		}
		if strings.Count(lit, "{{") > strings.Count(format, "{{") {
			t.Fatalf("renderKeyID(%q) = %q: more markers than the format", format, got)
		}
	})
}
