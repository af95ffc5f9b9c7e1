package cert_test

import (
	"slices"
	"testing"
)

// A certificate login's alias is its common name (as in Vault), and its
// group aliases are the trusting entry's name and the leaf's OUs.
func TestLoginIdentity(t *testing.T) {
	ca := newCA(t, "ca")
	f := newFixture(t)
	f.must(t, "certs/web", map[string]any{"certificate": ca.pem()})
	leaf, _ := ca.issue(t, leafOpts{cn: "web-1", ous: []string{"ops", "eu"}})
	resp, err := f.login(leaf)
	if err != nil {
		t.Fatal(err)
	}
	ga := resp.Auth.GroupAliases
	if resp.Auth.Alias != "web-1" || len(ga) != 3 || ga[0] != "web" || !slices.Equal(slices.Sorted(slices.Values(ga[1:])), []string{"eu", "ops"}) {
		t.Fatalf("alias %q, group aliases %q", resp.Auth.Alias, resp.Auth.GroupAliases)
	}
	// Without a common name the serial number names the caller.
	anon, _ := ca.issue(t, leafOpts{serial: 0xbeef})
	resp, err = f.login(anon)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Auth.Alias != "beef" {
		t.Fatalf("alias of a certificate without a CN = %q", resp.Auth.Alias)
	}
}
