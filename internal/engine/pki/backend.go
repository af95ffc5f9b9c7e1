package pki

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

const help = `The pki engine is a certificate authority: it holds CA keys that never
leave it (unless generated as exported), issues and signs certificates under
roles that bound their names and lifetimes, and publishes CRLs and OCSP.`

// backend serves one pki mount.
type backend struct {
	*logical.Router
	now    func() time.Time
	system logical.SystemView

	// mu serialises changes to issuers, keys, revocations and CRLs. Issue
	// and sign do not take it: they only read issuers and write their own
	// certificate.
	mu sync.Mutex

	// acme holds nonces and rate limiters; acmeMu serialises changes to
	// ACME accounts and orders.
	acme   *acmeState
	acmeMu sync.Mutex

	tidyMu     sync.Mutex
	tidyStatus map[string]any
}

var (
	_ logical.Backend          = (*backend)(nil)
	_ logical.Revoker          = (*backend)(nil)
	_ logical.ExistenceChecker = (*backend)(nil)
)

// Factory builds a pki backend for a new mount.
func Factory(_ context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := newBackend(time.Now)
	if conf != nil {
		b.system = conf.System
	}
	return b, nil
}

func newBackend(now func() time.Time) *backend {
	b := &backend{now: now, tidyStatus: map[string]any{"state": "Inactive"}, acme: newACMEState()}
	b.Router = logical.NewRouter(help, b.routes()...)
	return b
}

type ops = map[logical.Operation]logical.Handler

func (b *backend) routes() []logical.Route {
	rd, up, ls, del := logical.ReadOperation, logical.UpdateOperation, logical.ListOperation, logical.DeleteOperation
	return append(b.acmeRoutes(), []logical.Route{
		{Pattern: "root/generate/{exported}", Ops: ops{up: b.generateRoot}, Fields: caFields, Synopsis: "Generate a self-signed root CA (internal, exported or existing)."},
		{Pattern: "root/rotate/{exported}", Ops: ops{up: b.rotateRoot}, Fields: caFields, Synopsis: "Generate a new root next to the current one; the default issuer does not change."},
		{Pattern: "issuers/generate/root/{exported}", Ops: ops{up: b.generateRoot}, Fields: caFields, Synopsis: "Generate a self-signed root CA."},
		{Pattern: "intermediate/generate/{exported}", Ops: ops{up: b.generateIntermediate}, Fields: caFields, Synopsis: "Generate a key and a CSR for an intermediate CA."},
		{Pattern: "issuers/generate/intermediate/{exported}", Ops: ops{up: b.generateIntermediate}, Fields: caFields, Synopsis: "Generate a key and a CSR for an intermediate CA."},
		{Pattern: "intermediate/cross-sign", Ops: ops{up: b.crossSignCSR}, Fields: caFields, Synopsis: "A CSR for an existing key (key_ref), for another CA to cross-sign."},
		{Pattern: "intermediate/set-signed", Ops: ops{up: b.setSigned}, Fields: logical.Fields{{Name: "certificate", Type: logical.TypeString, Description: "The signed intermediate (and its chain) in PEM."}}, Synopsis: "Import the signed intermediate certificate."},
		{Pattern: "root/sign-intermediate", Ops: ops{up: b.signIntermediate}, Fields: signIntFields, Synopsis: "Sign an intermediate CA's CSR with the default issuer."},
		{Pattern: "issuer/{ref}/sign-intermediate", Ops: ops{up: b.signIntermediate}, Fields: signIntFields.With(refField), Synopsis: "Sign an intermediate CA's CSR with this issuer."},
		{Pattern: "config/ca", Ops: ops{up: b.importCA}, Fields: logical.Fields{{Name: "pem_bundle", Type: logical.TypeString, Description: "CA certificates and keys in PEM."}}, Synopsis: "Import CA certificates and keys."},
		{Pattern: "issuers/import/{kind}", Ops: ops{up: b.importCA}, Fields: logical.Fields{{Name: "kind", InPath: true}, {Name: "pem_bundle", Type: logical.TypeString, Description: "CA certificates and keys in PEM."}}, Synopsis: "Import CA certificates (cert) or certificates and keys (bundle)."},
		{Pattern: "issuers", Ops: ops{ls: b.listIssuers}, Synopsis: "List the issuers."},
		{Pattern: "issuer/{ref}/issue/{role}", Ops: ops{up: b.issue}, Fields: issueFields.With(refField), Synopsis: "Issue a key and certificate with this issuer."},
		{Pattern: "issuer/{ref}/sign/{role}", Ops: ops{up: b.sign}, Fields: signFields.With(refField), Synopsis: "Sign a CSR with this issuer."},
		{Pattern: "issuer/{ref}/sign-verbatim", Ops: ops{up: b.signVerbatim}, Fields: verbatimFields.With(refField), Synopsis: "Sign a CSR as it is with this issuer."},
		{Pattern: "issuer/{ref}/pem", Ops: ops{rd: b.readIssuerCert}, Fields: logical.Fields{refField}, Synopsis: "The issuer's certificate in PEM."},
		{Pattern: "issuer/{ref}/der", Ops: ops{rd: b.readIssuerCert}, Fields: logical.Fields{refField}, Synopsis: "The issuer's certificate in DER."},
		{Pattern: "issuer/{ref}/json", Ops: ops{rd: b.readIssuerCert}, Fields: logical.Fields{refField}, Synopsis: "The issuer's certificate and chain."},
		{Pattern: "issuer/{ref}/crl", Ops: ops{rd: b.readIssuerCRL}, Fields: logical.Fields{refField}, Synopsis: "The issuer's CRL."},
		{Pattern: "issuer/{ref}/crl/{kind*}", Ops: ops{rd: b.readIssuerCRL}, Fields: logical.Fields{refField}, Synopsis: "The issuer's CRL: pem, der, delta, delta/pem, delta/der."},
		{Pattern: "issuer/{ref}", Ops: ops{rd: b.readIssuer, up: b.updateIssuer, del: b.deleteIssuer}, Fields: issuerFields, Synopsis: "Read, update or delete an issuer."},
		{Pattern: "config/issuers", Ops: ops{rd: b.readIssuersConfig, up: b.writeIssuersConfig}, Fields: logical.Fields{
			{Name: "default", Type: logical.TypeString, Description: "The default issuer (ID or name)."},
			{Name: "default_follows_latest_issuer", Type: logical.TypeBool, Description: "A new issuer becomes the default."},
		}, Synopsis: "Which issuer is the default."},
		{Pattern: "root/replace", Ops: ops{up: b.writeIssuersConfig}, Fields: logical.Fields{{Name: "default", Type: logical.TypeString, Description: "The new default issuer."}}, Synopsis: "Make another issuer the default."},
		{Pattern: "keys", Ops: ops{ls: b.listKeys}, Synopsis: "List the CA keys."},
		{Pattern: "key/{ref}", Ops: ops{rd: b.readKey, up: b.updateKey}, Fields: logical.Fields{{Name: "ref", InPath: true}, {Name: "key_name", Type: logical.TypeString, Description: "The key's name."}}, Synopsis: "Read a CA key's metadata (never the key)."},
		{Pattern: "roles", Ops: ops{ls: b.listRoles}, Synopsis: "List the roles."},
		{Pattern: "roles/{name}", Ops: ops{rd: b.readRole, up: b.writeRole, del: b.deleteRole}, Fields: roleFields, Exists: b.roleExists, Synopsis: "Create, read or delete a role."},
		{Pattern: "issue/{role}", Ops: ops{up: b.issue}, Fields: issueFields, Synopsis: "Issue a new key and certificate under a role."},
		{Pattern: "sign/{role}", Ops: ops{up: b.sign}, Fields: signFields, Synopsis: "Sign a CSR under a role."},
		{Pattern: "sign-verbatim", Ops: ops{up: b.signVerbatim}, Fields: verbatimFields, Synopsis: "Sign a CSR with its own names, unchecked."},
		{Pattern: "sign-verbatim/{role}", Ops: ops{up: b.signVerbatim}, Fields: verbatimFields.With(logical.Field{Name: "role", InPath: true}), Synopsis: "Sign a CSR with its own names, with the role's lifetimes and usages."},
		{Pattern: "revoke", Ops: ops{up: b.revoke}, Fields: logical.Fields{
			{Name: "serial_number", Type: logical.TypeString, Description: "The certificate's serial."},
			{Name: "certificate", Type: logical.TypeString, Description: "The certificate in PEM (for certificates not stored)."},
		}, Synopsis: "Revoke a certificate."},
		{Pattern: "revoke-with-key", Ops: ops{up: b.revokeWithKey}, Fields: logical.Fields{
			{Name: "serial_number", Type: logical.TypeString, Description: "The certificate's serial."},
			{Name: "certificate", Type: logical.TypeString, Description: "The certificate in PEM."},
			{Name: "private_key", Type: logical.TypeString, Description: "The certificate's private key in PEM, proving possession."},
		}, Synopsis: "Revoke a certificate, proving possession of its key."},
		{Pattern: "certs", Ops: ops{ls: b.listCerts}, Synopsis: "List the serials of stored certificates."},
		{Pattern: "certs/revoked", Ops: ops{ls: b.listRevoked}, Synopsis: "List the serials of revoked certificates."},
		{Pattern: "ca", Ops: ops{rd: b.readCA}, Unauthenticated: true, Synopsis: "The default issuer's certificate in DER."},
		{Pattern: "ca/pem", Ops: ops{rd: b.readCA}, Unauthenticated: true, Synopsis: "The default issuer's certificate in PEM."},
		{Pattern: "ca_chain", Ops: ops{rd: b.readCA}, Unauthenticated: true, Synopsis: "The default issuer's chain in PEM."},
		{Pattern: "cert/{serial}", Ops: ops{rd: b.readCert}, Unauthenticated: true, Fields: logical.Fields{{Name: "serial", InPath: true, Description: "A serial, or ca, ca_chain, crl, delta-crl."}}, Synopsis: "A certificate by serial, in PEM."},
		{Pattern: "cert/{serial}/raw", Ops: ops{rd: b.readCert}, Unauthenticated: true, Fields: logical.Fields{{Name: "serial", InPath: true}}, Synopsis: "A certificate by serial, in DER."},
		{Pattern: "cert/{serial}/raw/pem", Ops: ops{rd: b.readCert}, Unauthenticated: true, Fields: logical.Fields{{Name: "serial", InPath: true}}, Synopsis: "A certificate by serial, in PEM."},
		{Pattern: "crl", Ops: ops{rd: b.readCRL}, Unauthenticated: true, Synopsis: "The default issuer's CRL in DER."},
		{Pattern: "crl/pem", Ops: ops{rd: b.readCRL}, Unauthenticated: true, Synopsis: "The default issuer's CRL in PEM."},
		{Pattern: "crl/delta", Ops: ops{rd: b.readCRL}, Unauthenticated: true, Synopsis: "The default issuer's delta CRL in DER."},
		{Pattern: "crl/delta/pem", Ops: ops{rd: b.readCRL}, Unauthenticated: true, Synopsis: "The default issuer's delta CRL in PEM."},
		{Pattern: "crl/rotate", Ops: ops{rd: b.rotateCRL}, Synopsis: "Rebuild every issuer's CRL now."},
		{Pattern: "crl/rotate-delta", Ops: ops{rd: b.rotateDeltaCRL}, Synopsis: "Rebuild every issuer's delta CRL now."},
		{Pattern: "ocsp/{req*}", Ops: ops{rd: b.ocsp, up: b.ocsp}, Unauthenticated: true, Synopsis: "OCSP responder (RFC 6960): GET with the base64 request in the path, or POST application/ocsp-request."},
		{Pattern: "config/urls", Ops: ops{rd: b.readURLs, up: b.writeURLs}, Fields: urlFields, Synopsis: "URLs put in issued certificates (AIA, CRL, OCSP)."},
		{Pattern: "config/crl", Ops: ops{rd: b.readCRLConfig, up: b.writeCRLConfig}, Fields: crlFields, Synopsis: "How CRLs are built."},
		{Pattern: "tidy", Ops: ops{up: b.tidy}, Fields: tidyFields, Synopsis: "Remove expired certificates and revocations from storage."},
		{Pattern: "tidy-status", Ops: ops{rd: b.readTidyStatus}, Synopsis: "What the last tidy did."},
	}...)
}

var refField = logical.Field{Name: "ref", InPath: true, Description: "An issuer ID, name, or default."}

// ttls returns the mount's default and maximum lease TTLs.
func (b *backend) ttls(req *logical.Request) (def, max time.Duration) {
	def, max = req.MountConfig.DefaultLeaseTTL, req.MountConfig.MaxLeaseTTL
	if b.system != nil {
		if def == 0 {
			def = b.system.DefaultLeaseTTL()
		}
		if max == 0 {
			max = b.system.MaxLeaseTTL()
		}
	}
	if def == 0 {
		def = 768 * time.Hour
	}
	if max == 0 {
		max = 768 * time.Hour
	}
	return def, max
}

var _ logical.Aliaser = (*backend)(nil)

// CanonicalPath names the path an alias route acts on, so the core
// authorizes the request as that path too and a deny there covers the
// alias (logical.Aliaser): issuer/REF/issue/ROLE is issue/ROLE with
// another issuer, issuer/REF/sign-verbatim is sign-verbatim,
// issuers/generate/root/X is root/generate/X, and so on.
//
// A request that picks its issuer in the body (issuer_ref on issue/ROLE,
// sign/ROLE, sign-verbatim[/ROLE] or root/sign-intermediate) acts on the
// issuer-scoped path, issuer/REF/issue/ROLE and so on, so an ACL on
// issuer/REF/... decides whether the role's issuer may be overridden.
func (b *backend) CanonicalPath(req *logical.Request) string {
	p := strings.TrimSuffix(req.Path, "/")
	if ref, _ := req.Data["issuer_ref"].(string); ref != "" {
		switch {
		case strings.HasPrefix(p, "issue/"), strings.HasPrefix(p, "sign/"):
			return "issuer/" + ref + "/" + p
		case p == "sign-verbatim", strings.HasPrefix(p, "sign-verbatim/"):
			return "issuer/" + ref + "/sign-verbatim"
		case p == "root/sign-intermediate":
			return "issuer/" + ref + "/sign-intermediate"
		}
	}
	if rest, ok := strings.CutPrefix(p, "issuer/"); ok {
		if _, tail, ok := strings.Cut(rest, "/"); ok {
			switch {
			case strings.HasPrefix(tail, "issue/"), strings.HasPrefix(tail, "sign/"), tail == "sign-verbatim":
				return tail
			case tail == "sign-intermediate":
				return "root/sign-intermediate"
			}
		}
		return ""
	}
	switch {
	case strings.HasPrefix(p, "issuers/generate/root/"):
		return "root/generate/" + strings.TrimPrefix(p, "issuers/generate/root/")
	case strings.HasPrefix(p, "issuers/generate/intermediate/"):
		return "intermediate/generate/" + strings.TrimPrefix(p, "issuers/generate/intermediate/")
	case strings.HasPrefix(p, "issuers/import/"):
		return "config/ca"
	case p == "root/replace":
		return "config/issuers"
	}
	return ""
}

var _ logical.OtherNamer = (*backend)(nil)

// OtherNames returns the issuer-scoped path a request acts on under the
// issuer's other names (logical.OtherNamer). An issuer is at once its id,
// its issuer_name and, while it is the default, "default": a request to
// issuer/ID/issue/web acts on issuer/NAME/issue/web and, for the default
// issuer, issuer/default/issue/web, and a deny written on any of them
// refuses it. The issuer-scoped path is req.Path (issuer/REF[/...]) or,
// for issuer_ref in the body, the path CanonicalPath names. An unknown
// issuer has no other names; the handler answers for it.
func (b *backend) OtherNames(ctx context.Context, req *logical.Request) ([]string, error) {
	p := strings.TrimSuffix(req.Path, "/")
	if c := b.CanonicalPath(req); strings.HasPrefix(c, "issuer/") {
		p = c
	}
	if ref, ok := strings.CutPrefix(p, "key/"); ok && ref != "" && !strings.Contains(ref, "/") {
		return keyOtherNames(ctx, req.Storage, ref)
	}
	rest, ok := strings.CutPrefix(p, "issuer/")
	if !ok {
		return nil, nil
	}
	ref, tail, hasTail := strings.Cut(rest, "/")
	if ref == "" {
		return nil, nil
	}
	if hasTail {
		tail = "/" + tail
	}
	iss, err := resolveIssuer(ctx, req.Storage, ref)
	if err != nil || iss == nil {
		return nil, err
	}
	cfg, err := loadIssuersConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	names := []string{iss.ID}
	if iss.Name != "" {
		names = append(names, iss.Name)
	}
	if cfg.Default == iss.ID {
		names = append(names, "default")
	}
	var out []string
	for _, n := range names {
		if n != ref {
			out = append(out, "issuer/"+n+tail)
		}
	}
	return out, nil
}

// keyOtherNames is OtherNames for key/REF: the same key by its id, its
// key_name, and "default" while it is the default issuer's key. An
// unknown key has no other names (the handler answers it).
func keyOtherNames(ctx context.Context, s logical.Storage, ref string) ([]string, error) {
	def, err := resolveIssuer(ctx, s, "default")
	if err != nil {
		return nil, err
	}
	var k *keyEntry
	switch {
	case ref == "default":
		if def == nil || def.KeyID == "" {
			return nil, nil
		}
		if k, err = loadKey(ctx, s, def.KeyID); err != nil {
			return nil, err
		}
	default:
		if k, err = loadKey(ctx, s, ref); err != nil {
			return nil, err
		}
		if k == nil {
			all, err := listKeyEntries(ctx, s)
			if err != nil {
				return nil, err
			}
			for _, e := range all {
				if e.Name == ref {
					k = e
					break
				}
			}
		}
	}
	if k == nil {
		return nil, nil
	}
	names := []string{k.ID}
	if k.Name != "" {
		names = append(names, k.Name)
	}
	if def != nil && def.KeyID == k.ID {
		names = append(names, "default")
	}
	var out []string
	for _, n := range names {
		if n != ref {
			out = append(out, "key/"+n)
		}
	}
	return out, nil
}
