package pki

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func mustDomains(t testing.TB, globs bool, d ...string) []string {
	t.Helper()
	out, err := canonicalDomains(d, globs)
	if err != nil {
		t.Fatalf("canonicalDomains(%q): %v", d, err)
	}
	return out
}

// Every decision a role makes about a DNS name (or email), against the
// name it would then issue.
func TestCheckHost(t *testing.T) {
	sub := namePolicy{AllowedDomains: mustDomains(t, false, "example.com"), AllowSubdomains: true, EnforceHostnames: true, AllowWildcards: true}
	bare := namePolicy{AllowedDomains: mustDomains(t, false, "example.com"), AllowBareDomains: true, EnforceHostnames: true, AllowWildcards: true}
	both := sub
	both.AllowBareDomains = true
	glob := namePolicy{AllowedDomains: mustDomains(t, true, "*.svc.example.com", "web-*.example.org"), AllowGlobDomains: true, EnforceHostnames: true, AllowWildcards: true}
	globOff := glob
	globOff.AllowGlobDomains = false
	noWild := sub
	noWild.AllowWildcards = false
	local := namePolicy{AllowLocalhost: true, EnforceHostnames: true}
	anyHost := namePolicy{AllowAnyName: true, EnforceHostnames: true, AllowWildcards: true}
	anyFree := namePolicy{AllowAnyName: true, AllowWildcards: true}
	idn := namePolicy{AllowedDomains: mustDomains(t, false, "bücher.example"), AllowSubdomains: true, AllowBareDomains: true, EnforceHostnames: true}

	cases := []struct {
		name   string
		pol    namePolicy
		in     string
		want   string // "" means refused
		freeCN bool   // checkName: allowed as a free-form CN only
	}{
		{"subdomain", sub, "www.example.com", "www.example.com", false},
		{"deep subdomain", sub, "a.b.c.example.com", "a.b.c.example.com", false},
		{"bare refused without allow_bare_domains", sub, "example.com", "", false},
		{"bare allowed", bare, "example.com", "example.com", false},
		{"subdomain refused with bare only", bare, "www.example.com", "", false},
		{"bare and sub", both, "example.com", "example.com", false},
		{"suffix without dot is another domain", sub, "badexample.com", "", false},
		{"allowed domain as a label inside", sub, "example.com.evil.net", "", false},
		{"other domain", sub, "example.org", "", false},
		{"upper case folded", sub, "WWW.Example.COM", "www.example.com", false},
		{"trailing dot refused", sub, "www.example.com.", "", false},
		{"leading dot refused", sub, ".example.com", "", false},
		{"empty label refused", sub, "a..example.com", "", false},
		{"double dot before domain", sub, "www..example.com", "", false},
		{"empty", sub, "", "", false},
		{"space", sub, "w w.example.com", "", false},
		{"underscore", sub, "_srv.example.com", "", false},
		{"leading hyphen", sub, "-a.example.com", "", false},
		{"trailing hyphen", sub, "a-.example.com", "", false},
		{"inner hyphen ok", sub, "a-b.example.com", "a-b.example.com", false},
		{"label of 64 refused", sub, strings.Repeat("a", 64) + ".example.com", "", false},
		{"label of 63 ok", sub, strings.Repeat("a", 63) + ".example.com", strings.Repeat("a", 63) + ".example.com", false},
		{"name over 253 refused", sub, strings.Repeat("a.", 125) + "example.com", "", false},
		{"NUL byte", sub, "a\x00.example.com", "", false},
		{"invalid utf8", sub, "a\xff.example.com", "", false},
		{"wildcard of subdomain", sub, "*.example.com", "*.example.com", false},
		{"wildcard deeper", sub, "*.a.example.com", "*.a.example.com", false},
		{"wildcard with bare only refused", bare, "*.example.com", "", false},
		{"wildcard refused by role", noWild, "*.example.com", "", false},
		{"partial wildcard refused", sub, "w*.example.com", "", false},
		{"wildcard not leftmost", sub, "a.*.example.com", "", false},
		{"double wildcard", sub, "*.*.example.com", "", false},
		{"bare wildcard", sub, "*", "", false},
		{"wildcard of other domain", sub, "*.com", "", false},
		{"glob match", glob, "db.svc.example.com", "db.svc.example.com", false},
		{"glob star spans dots (Vault)", glob, "a.b.svc.example.com", "a.b.svc.example.com", false},
		{"glob needs its suffix", glob, "svc.example.com", "", false},
		{"glob prefix pattern", glob, "web-1.example.org", "web-1.example.org", false},
		{"glob prefix pattern refuses other prefix", glob, "api-1.example.org", "", false},
		{"glob pattern ignored when globs off", globOff, "db.svc.example.com", "", false},
		{"wildcard under glob *.", glob, "*.svc.example.com", "*.svc.example.com", false},
		{"wildcard under prefix glob refused", glob, "*.example.org", "", false},
		{"glob does not match evil suffix", glob, "db.svc.example.com.evil", "", false},
		{"localhost", local, "localhost", "localhost", false},
		{"localhost upper", local, "LOCALHOST", "localhost", false},
		{"localdomain", local, "localdomain", "localdomain", false},
		{"localhost subdomain refused", local, "a.localhost", "", false},
		{"localhost not allowed by sub policy", sub, "localhost", "", false},
		{"any name", anyHost, "anything.test", "anything.test", false},
		{"any name still a hostname", anyHost, "John Smith", "", false},
		{"any name free text CN", anyFree, "John Smith", "John Smith", true},
		{"free text never with control chars", anyFree, "John\nSmith", "", false},
		{"IDN U-label converted", idn, "www.bücher.example", "www.xn--bcher-kva.example", false},
		{"IDN A-label accepted", idn, "www.xn--bcher-kva.example", "www.xn--bcher-kva.example", false},
		{"IDN bare", idn, "bücher.example", "xn--bcher-kva.example", false},
		{"IDN upper-case U-label refused (needs mapping)", idn, "BÜCHER.example", "", false},
		{"IDN decomposed (not NFC) refused", idn, "bu\u0308cher.example", "", false},
		{"IDN fullwidth dot refused", idn, "www\uff0ebücher.example", "", false},
		{"IDN other domain", idn, "bucher.example", "", false},
		{"bogus punycode refused", sub, "xn--zz.example.com", "", false},
		{"punycode lookalike of allowed is other name", sub, "xn--exmple-cua.com", "", false},
		{"IP text is not a hostname under sub", sub, "192.0.2.1", "", false},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, host, err := tc.pol.checkName(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("checkName(%q) = %q, want refused", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want || host == tc.freeCN {
				t.Fatalf("checkName(%q) = %q, host=%v, %v; want %q host=%v", tc.in, got, host, err, tc.want, !tc.freeCN)
			}
			if h, err := tc.pol.checkHost(tc.in); tc.freeCN != (err != nil) || (!tc.freeCN && h != tc.want) {
				t.Fatalf("checkHost(%q) = %q, %v", tc.in, h, err)
			}
		})
	}
}

func TestCheckEmail(t *testing.T) {
	sub := namePolicy{AllowedDomains: mustDomains(t, false, "example.com"), AllowBareDomains: true, EnforceHostnames: true}
	for _, tc := range []struct{ in, want string }{
		{"alice@example.com", "alice@example.com"},
		{"alice@EXAMPLE.com", "alice@example.com"},
		{"alice@evil.com", ""},
		{"@example.com", ""},
		{"alice@", ""},
		{"a b@example.com", ""},
		{"alice@*.example.com", ""},
		{"alice@example.com.", ""},
		{"a@b@example.com", ""},
	} {
		got, err := sub.checkEmail(tc.in)
		if (tc.want == "") != (err != nil) || got != tc.want {
			t.Errorf("checkEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCheckIP(t *testing.T) {
	on := namePolicy{AllowIPSANs: true}
	for _, tc := range []struct {
		pol  namePolicy
		in   string
		want string
	}{
		{on, "192.0.2.1", "192.0.2.1"},
		{on, "2001:db8::1", "2001:db8::1"},
		{on, "2001:DB8:0::1", "2001:db8::1"},
		{on, "::ffff:192.0.2.1", "192.0.2.1"},
		{on, "fe80::1%eth0", ""},
		{on, "192.0.2.256", ""},
		{on, "192.0.2", ""},
		{on, "01.2.3.4", ""},
		{on, "", ""},
		{namePolicy{}, "192.0.2.1", ""},
	} {
		a, err := tc.pol.checkIP(tc.in)
		got := ""
		if err == nil {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("checkIP(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCheckURI(t *testing.T) {
	pol := namePolicy{AllowedURISANs: []string{"spiffe://cluster.local/ns/*/sa/web", "https://id.example.com/*"}}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"spiffe://cluster.local/ns/prod/sa/web", true},
		{"spiffe://cluster.local/ns/prod/sa/api", false},
		{"spiffe://other.local/ns/prod/sa/web", false},
		{"SPIFFE://cluster.local/ns/prod/sa/web", false},
		{"spiffe://Cluster.local/ns/prod/sa/web", false},
		{"spiffe://cluster.local/ns/../sa/web", false},
		{"spiffe://cluster.local/ns//sa/web", false},
		{"spiffe://cluster.local/ns/prod/sa/web?x=1", false},
		{"spiffe://cluster.local/ns/prod/sa/web#f", false},
		{"spiffe://cluster.local:8443/ns/prod/sa/web", false},
		{"spiffe://u@cluster.local/ns/prod/sa/web", false},
		{"spiffe://cluster.local/ns/pr%6fd/sa/web", false},
		{"https://id.example.com/team/a", true},
		{"https://id.example.com.evil/team", false},
		{"https://id.example.com/a b", false},
		{"/relative/path", false},
		{"", false},
	} {
		_, err := pol.checkURI(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("checkURI(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func TestCheckOtherSAN(t *testing.T) {
	pol := namePolicy{AllowedOtherSANs: []string{"1.3.6.1.4.1.311.20.2.3;UTF8:*@example.com"}}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"1.3.6.1.4.1.311.20.2.3;UTF8:alice@example.com", true},
		{"1.3.6.1.4.1.311.20.2.3;UTF8:alice@evil.com", false},
		{"1.3.6.1.4.1.311.20.2.4;UTF8:alice@example.com", false},
		{"1.3.6.1.4.1.311.20.2.3;alice@example.com", false},
		{"not-an-oid;UTF8:x", false},
		// A NUL or other control character would let a consumer that
		// reads the value as a C string see "alice@evil.com".
		{"1.3.6.1.4.1.311.20.2.3;UTF8:alice@evil.com\x00@example.com", false},
		{"1.3.6.1.4.1.311.20.2.3;UTF8:alice@evil.com\n@example.com", false},
		{"1.3.6.1.4.1.311.20.2.3;UTF8:alice@evil.com\u0085@example.com", false},
	} {
		_, _, err := pol.checkOtherSAN(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("checkOtherSAN(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
	if _, _, err := (namePolicy{AllowedOtherSANs: []string{"*"}}).checkOtherSAN("1.2.3;UTF8:x"); err != nil {
		t.Errorf("* should allow any: %v", err)
	}
	if _, _, err := (namePolicy{AllowedOtherSANs: []string{"*"}}).checkOtherSAN("1.2.3;UTF8:x\x00y"); err == nil {
		t.Error("* allowed a value with a NUL")
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*", "a", true}, {"a*c", "abc", true}, {"a*c", "ab", false},
		{"*.x", ".x", true}, {"*.x", "a.x.y", false}, {"a*b*c", "abbc", true}, {"a*b*c", "acb", false},
		{"ab*ba", "aba", false}, {"exact", "exact", true}, {"exact", "exact2", false},
	} {
		if got := globMatch(tc.p, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

// FuzzCheckHost asserts the safety property of the name checks: whatever
// a role with allowed_domains=[example.com] and allow_subdomains allows
// is a canonical hostname below example.com, and the glob role allows
// only names below svc.example.com; checking the issued form again gives
// the same answer.
func FuzzCheckHost(f *testing.F) {
	for _, s := range []string{"www.example.com", "*.example.com", "a..example.com", "EXAMPLE.com", "bücher.example.com",
		"xn--bcher-kva.example.com", "example.com.", "a.svc.example.com", "*.svc.example.com", "localhost", "x.example.com\x00"} {
		f.Add(s)
	}
	sub := namePolicy{AllowedDomains: []string{"example.com"}, AllowSubdomains: true, EnforceHostnames: true, AllowWildcards: true}
	glob := namePolicy{AllowedDomains: []string{"*.svc.example.com"}, AllowGlobDomains: true, EnforceHostnames: true, AllowWildcards: true}
	f.Fuzz(func(t *testing.T, name string) {
		for _, tc := range []struct {
			pol    namePolicy
			suffix string
		}{{sub, ".example.com"}, {glob, ".svc.example.com"}} {
			got, err := tc.pol.checkHost(name)
			if err != nil {
				continue
			}
			if !strings.HasSuffix(got, tc.suffix) {
				t.Fatalf("%q allowed as %q, outside %s", name, got, tc.suffix)
			}
			if !utf8.ValidString(got) || strings.ToLower(got) != got || strings.HasSuffix(got, ".") || strings.Contains(got, "..") {
				t.Fatalf("%q allowed as non-canonical %q", name, got)
			}
			for i := 0; i < len(got); i++ {
				if got[i] >= 0x80 {
					t.Fatalf("%q allowed as non-ASCII %q", name, got)
				}
			}
			base := strings.TrimPrefix(got, "*.")
			if c, err := canonicalHost(base, false); err != nil || c != base {
				t.Fatalf("%q allowed as %q, which is not a hostname: %v", name, got, err)
			}
			if strings.Contains(base, "*") {
				t.Fatalf("%q allowed as %q with a wildcard not leftmost", name, got)
			}
			again, err := tc.pol.checkHost(got)
			if err != nil || again != got {
				t.Fatalf("issued form %q of %q does not check to itself: %q %v", got, name, again, err)
			}
		}
	})
}

// FuzzCheckURI: a URI SAN the role allows matches its glob as written,
// is absolute and re-serialises to itself, and a spiffe:// one is a
// valid SPIFFE ID under the allowed trust domain.
func FuzzCheckURI(f *testing.F) {
	for _, s := range []string{"spiffe://td/ns/a/sa/web", "spiffe://td/ns/../sa/web", "spiffe://TD/ns/a", "https://x/y", "spiffe://td/ns/a%2f/sa/web"} {
		f.Add(s)
	}
	pol := namePolicy{AllowedURISANs: []string{"spiffe://td/ns/*/sa/web"}}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := pol.checkURI(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(s, "spiffe://td/ns/") || !strings.HasSuffix(s, "/sa/web") || u.String() != s || u.Host != "td" {
			t.Fatalf("%q allowed outside spiffe://td/ns/*/sa/web", s)
		}
		for _, seg := range strings.Split(u.Path, "/")[1:] {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("%q allowed with segment %q", s, seg)
			}
		}
	})
}
