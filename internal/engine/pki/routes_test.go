package pki

import (
	"testing"
	"time"

	"github.com/keyward/keyward/internal/logical/logicaltest"
	"github.com/keyward/keyward/internal/logical/routetest"
)

// Only the CA, certificate, CRL and OCSP reads go without a token
// (crl/rotate does not); roles tell create from update; reads and writes
// are refused where Vault refuses them; help names the fields.
func TestRoutes(t *testing.T) {
	s := &logicaltest.InmemStorage{}
	b := newBackend(time.Now)
	call(t, b, s, "roles/web", map[string]any{"allow_any_name": true})
	acme := []string{"acme/directory", "acme/new-nonce", "acme/new-account", "acme/account/*", "acme/new-order", "acme/order/*",
		"acme/authorization/*", "acme/challenge/*", "acme/revoke-cert", "acme/key-change"}
	for _, pre := range []string{"roles/+/", "issuer/+/", "issuer/+/roles/+/"} {
		for _, r := range []string{"directory", "new-nonce", "new-account", "account/+", "account/+/orders", "new-order", "order/+", "order/+/finalize",
			"order/+/cert", "authorization/+", "challenge/+/+", "revoke-cert", "key-change"} {
			acme = append(acme, pre+"acme/"+r)
		}
	}
	routetest.Unauthenticated(t, b, append(acme, "ca", "ca/pem", "ca_chain", "cert/*", "crl", "crl/pem", "crl/delta", "crl/delta/pem", "ocsp", "ocsp/*")...)
	routetest.ExistenceChecks(t, b, s, routetest.Existence{
		Exists:  []string{"roles/web"},
		Absent:  []string{"roles/new"},
		NoCheck: []string{"issue/web", "config/urls", "root/generate/internal"},
	})
	routetest.Refusals(t, b, s, routetest.Refusal{
		WrongOperation: []string{"read issue/web", "read sign/web", "update ca", "update crl", "delete config/crl", "read revoke", "update certs", "update keys"},
		UnknownPath:    []string{"read cert", "update issue", "read acme/nothing", "read roles/web/acme", "read issuer/x/y/z/w"},
	})
	routetest.Help(t, b, "pki/", map[string][]string{
		"roles/web":              {"allowed_domains (slice)", "allow_subdomains (bool)", "allowed_uri_sans (slice)", "key_type (string)"},
		"issue/web":              {"common_name (string)", "alt_names (slice)", "ttl"},
		"sign/web":               {"csr (string)"},
		"root/generate/internal": {"key_type (string)", "issuer_name (string)"},
		"config/crl":             {"enable_delta (bool)"},
	})
}
