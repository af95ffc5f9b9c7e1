package node_test

import (
	"net/http"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/keyward/keyward/internal/node/nodetest"
)

// An issuer is at once its id, its issuer_name and, while it is the
// default, "default", and a deny written on any of those forms refuses a
// request made through another. Regression (adversarial pass on the pki
// engine): with pki/* allowed and pki/issuer/myca/* denied, a token got a
// certificate from myca through pki/issuer/ID/issue/web,
// pki/issuer/default/issue/web and pki/issue/web with issuer_ref=ID, and
// could read, rename or delete myca through pki/issuer/ID.
func TestPKIIssuerNamesAuthorizedTogether(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	if err := root.Sys().Mount("pki", &vault.MountInput{Type: "pki"}); err != nil {
		t.Fatal(err)
	}
	gen := func(name string) string {
		t.Helper()
		s, err := root.Logical().Write("pki/root/generate/internal", map[string]any{"common_name": name, "key_type": "ec", "issuer_name": name})
		if err != nil {
			t.Fatal(err)
		}
		id, _ := s.Data["issuer_id"].(string)
		if id == "" {
			t.Fatalf("no issuer_id in %v", s.Data)
		}
		return id
	}
	myca := gen("myca") // the first issuer is the default
	other := gen("other")
	if _, err := root.Logical().Write("pki/roles/web", map[string]any{"allow_any_name": true, "key_type": "ec"}); err != nil {
		t.Fatal(err)
	}
	cn := map[string]any{"common_name": "x", "ttl": "1h"}
	csr := map[string]any{"csr": "x"}
	expect := func(tok, method, path string, body map[string]any, want int) {
		t.Helper()
		if status, out := do(t, method, n.URL+"/v1/"+path, tok, body); status != want {
			t.Errorf("%s %s %v = %d %s, want %d", method, path, body, status, out, want)
		}
	}
	// withRef is body with issuer_ref set.
	withRef := func(body map[string]any, ref string) map[string]any {
		out := map[string]any{"issuer_ref": ref}
		for k, v := range body {
			out[k] = v
		}
		return out
	}

	// A deny written on the name covers the id and "default".
	byName := tokenWith(t, root, "deny-issuer-name", `
path "pki/*" { capabilities = ["create","read","update","delete","list"] }
path "pki/issuer/myca" { capabilities = ["deny"] }
path "pki/issuer/myca/*" { capabilities = ["deny"] }
`)
	for _, ref := range []string{myca, "default"} {
		expect(byName, "PUT", "pki/issuer/"+ref+"/issue/web", cn, http.StatusForbidden)
		expect(byName, "PUT", "pki/issuer/"+ref+"/issue/web/", cn, http.StatusForbidden)
		expect(byName, "PUT", "pki/issuer/"+ref+"/sign/web", csr, http.StatusForbidden)
		expect(byName, "PUT", "pki/issuer/"+ref+"/sign-verbatim", csr, http.StatusForbidden)
		expect(byName, "PUT", "pki/issuer/"+ref+"/sign-intermediate", csr, http.StatusForbidden)
		for _, tail := range []string{"", "/pem", "/der", "/json", "/crl", "/crl/pem", "/crl/delta"} {
			expect(byName, "GET", "pki/issuer/"+ref+tail, nil, http.StatusForbidden)
		}
		expect(byName, "PUT", "pki/issuer/"+ref, map[string]any{"issuer_name": "renamed"}, http.StatusForbidden)
		expect(byName, "DELETE", "pki/issuer/"+ref, nil, http.StatusForbidden)
		expect(byName, "PUT", "pki/issue/web", withRef(cn, ref), http.StatusForbidden)
		expect(byName, "PUT", "pki/sign/web", withRef(csr, ref), http.StatusForbidden)
		expect(byName, "PUT", "pki/sign-verbatim", withRef(csr, ref), http.StatusForbidden)
		expect(byName, "PUT", "pki/sign-verbatim/web", withRef(csr, ref), http.StatusForbidden)
		expect(byName, "PUT", "pki/root/sign-intermediate", withRef(csr, ref), http.StatusForbidden)
	}
	if s, err := root.Logical().Read("pki/issuer/" + myca); err != nil || s == nil || s.Data["issuer_name"] != "myca" {
		t.Fatalf("myca after the refused rename and delete: %v %v", s, err)
	}
	// The other issuer, under each of its names, is not affected.
	for _, ref := range []string{other, "other"} {
		expect(byName, "PUT", "pki/issuer/"+ref+"/issue/web", cn, http.StatusOK)
		expect(byName, "PUT", "pki/issue/web", withRef(cn, ref), http.StatusOK)
		expect(byName, "GET", "pki/issuer/"+ref+"/json", nil, http.StatusOK)
	}
	// An unknown issuer has no other names: the handler answers.
	expect(byName, "PUT", "pki/issuer/nosuch/issue/web", cn, http.StatusBadRequest)

	// A deny written on the id covers the name and "default".
	byID := tokenWith(t, root, "deny-issuer-id", `
path "pki/*" { capabilities = ["create","read","update","delete","list"] }
path "pki/issuer/`+myca+`" { capabilities = ["deny"] }
path "pki/issuer/`+myca+`/*" { capabilities = ["deny"] }
`)
	for _, ref := range []string{"myca", "default"} {
		expect(byID, "PUT", "pki/issuer/"+ref+"/issue/web", cn, http.StatusForbidden)
		expect(byID, "PUT", "pki/issue/web", withRef(cn, ref), http.StatusForbidden)
		expect(byID, "GET", "pki/issuer/"+ref+"/pem", nil, http.StatusForbidden)
		expect(byID, "GET", "pki/issuer/"+ref, nil, http.StatusForbidden)
	}
	expect(byID, "PUT", "pki/issuer/other/issue/web", cn, http.StatusOK)

	// A deny written on "default" covers the default issuer's id and name,
	// and follows the default when it moves.
	byDefault := tokenWith(t, root, "deny-issuer-default", `
path "pki/*" { capabilities = ["create","read","update","delete","list"] }
path "pki/issuer/default/*" { capabilities = ["deny"] }
`)
	expect(byDefault, "PUT", "pki/issuer/myca/issue/web", cn, http.StatusForbidden)
	expect(byDefault, "PUT", "pki/issuer/"+myca+"/issue/web", cn, http.StatusForbidden)
	expect(byDefault, "PUT", "pki/issue/web", withRef(cn, "myca"), http.StatusForbidden)
	expect(byDefault, "PUT", "pki/issuer/other/issue/web", cn, http.StatusOK)

	// A policy that allows one form works through that form, and does not
	// extend to the others.
	nameOnly := tokenWith(t, root, "allow-issuer-name", `
path "pki/issuer/myca/issue/web" { capabilities = ["update"] }
path "pki/issue/web" { capabilities = ["update"] }
`)
	expect(nameOnly, "PUT", "pki/issuer/myca/issue/web", cn, http.StatusOK)
	expect(nameOnly, "PUT", "pki/issue/web", withRef(cn, "myca"), http.StatusOK)
	expect(nameOnly, "PUT", "pki/issuer/"+myca+"/issue/web", cn, http.StatusForbidden)
	expect(nameOnly, "PUT", "pki/issuer/default/issue/web", cn, http.StatusForbidden)
	expect(nameOnly, "PUT", "pki/issue/web", withRef(cn, myca), http.StatusForbidden)

	if _, err := root.Logical().Write("pki/config/issuers", map[string]any{"default": "other"}); err != nil {
		t.Fatal(err)
	}
	expect(byDefault, "PUT", "pki/issuer/myca/issue/web", cn, http.StatusOK)
	expect(byDefault, "PUT", "pki/issuer/other/issue/web", cn, http.StatusForbidden)
	expect(byDefault, "PUT", "pki/issuer/"+other+"/issue/web", cn, http.StatusForbidden)
	// myca is no longer the default: the name deny no longer covers default.
	expect(byName, "PUT", "pki/issuer/default/issue/web", cn, http.StatusOK)
}

// A CA key is at once its id, its key_name and, while it is the default
// issuer's key, "default": a deny written on the name refuses reading or
// renaming it through the others.
func TestPKIKeyNamesAuthorizedTogether(t *testing.T) {
	n := nodetest.Start(t)
	root := nodetest.VaultClient(t, n.URL, n.RootToken.Reveal())
	if err := root.Sys().Mount("pki", &vault.MountInput{Type: "pki"}); err != nil {
		t.Fatal(err)
	}
	s, err := root.Logical().Write("pki/root/generate/internal", map[string]any{"common_name": "A", "key_type": "ec", "key_name": "mykey"})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := s.Data["key_id"].(string)
	if kid == "" {
		t.Fatalf("no key_id in %v", s.Data)
	}
	tok := tokenWith(t, root, "deny-key-name", `
path "pki/*" { capabilities = ["create","read","update","delete","list"] }
path "pki/key/mykey" { capabilities = ["deny"] }
`)
	for _, ref := range []string{"mykey", kid, "default"} {
		if status, out := do(t, "GET", n.URL+"/v1/pki/key/"+ref, tok, nil); status != http.StatusForbidden {
			t.Errorf("GET pki/key/%s = %d %s, want 403", ref, status, out)
		}
		if status, out := do(t, "PUT", n.URL+"/v1/pki/key/"+ref, tok, map[string]any{"key_name": "renamed"}); status != http.StatusForbidden {
			t.Errorf("PUT pki/key/%s = %d %s, want 403", ref, status, out)
		}
	}
	s, err = root.Logical().Read("pki/key/" + kid)
	if err != nil || s == nil || s.Data["key_name"] != "mykey" {
		t.Fatalf("the key after the refused renames: %v %v", s, err)
	}
}
