package ssh

import (
	"context"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/logical"
)

const help = `The SSH engine is a certificate authority: it signs OpenSSH user and host
certificates for the principals its roles allow, so servers trust one CA key
instead of copied authorized_keys.`

// backend serves one ssh mount.
type backend struct {
	*logical.Router
	now    func() time.Time
	fields map[string]logical.Fields // by route pattern

	// caMu guards the parsed CA key and the stored form it came from.
	caMu    sync.Mutex
	caPEM   string
	caCache *ca
}

var (
	_ logical.Backend          = (*backend)(nil)
	_ logical.ExistenceChecker = (*backend)(nil)
	_ logical.Unauthenticated  = (*backend)(nil)
)

// Factory builds an ssh backend for a new mount.
func Factory(context.Context, *logical.BackendConfig) (logical.Backend, error) {
	return newBackend(time.Now), nil
}

// newBackend returns a backend reading the clock now.
func newBackend(now func() time.Time) *backend {
	b := &backend{now: now, fields: map[string]logical.Fields{}}
	routes := b.routes()
	for _, rt := range routes {
		b.fields[rt.Pattern] = rt.Fields
	}
	b.Router = logical.NewRouter(help, routes...)
	return b
}

func (b *backend) routes() []logical.Route {
	return []logical.Route{
		{
			Pattern: "config/ca",
			Ops: map[logical.Operation]logical.Handler{
				logical.UpdateOperation: b.writeCA,
				logical.ReadOperation:   b.readCA,
				logical.DeleteOperation: b.deleteCA,
			},
			Fields: logical.Fields{
				{Name: "generate_signing_key", Type: logical.TypeBool, Default: true, Description: "Generate the CA key pair here (ignored when private_key is given)."},
				{Name: "key_type", Type: logical.TypeString, Default: "ssh-rsa", Description: "Type of a generated key: ssh-rsa (rsa), ecdsa (ec, ssh-ecdsa) or ssh-ed25519 (ed25519)."},
				{Name: "key_bits", Type: logical.TypeInt, Description: "Bits of a generated key: rsa 2048, 3072 or 4096 (default); ecdsa 256 (default), 384 or 521."},
				{Name: "private_key", Type: logical.TypeString, Description: "A CA private key to import (OpenSSH, PKCS#1, PKCS#8 or SEC 1 PEM, unencrypted)."},
				{Name: "public_key", Type: logical.TypeString, Description: "The imported key's public half in authorized_keys form; it must match private_key."},
			},
			Synopsis:    "Set, read or delete the CA's signing key.",
			Description: "A write generates or imports the key once: delete it before setting another. A read returns the public key only.",
		},
		{
			Pattern:         "public_key",
			Ops:             map[logical.Operation]logical.Handler{logical.ReadOperation: b.publicKey},
			Unauthenticated: true,
			Synopsis:        "The CA's public key as text, for TrustedUserCAKeys and @cert-authority lines (no token needed).",
		},
		{
			Pattern:  "roles",
			Ops:      map[logical.Operation]logical.Handler{logical.ListOperation: b.listRoles},
			Synopsis: "List the roles.",
		},
		{
			Pattern: "roles/{role}",
			Ops: map[logical.Operation]logical.Handler{
				logical.UpdateOperation: b.writeRole,
				logical.ReadOperation:   b.readRole,
				logical.DeleteOperation: b.deleteRole,
			},
			Exists:   b.roleExists,
			Fields:   roleFields,
			Synopsis: "Create, read or delete a role: what the CA may sign, for whom and for how long.",
		},
		{
			Pattern:  "sign/{role}",
			Ops:      map[logical.Operation]logical.Handler{logical.UpdateOperation: b.sign},
			Fields:   signFields,
			Synopsis: "Sign a public key as a user or host certificate under a role.",
		},
		{
			Pattern:  "issue/{role}",
			Ops:      map[logical.Operation]logical.Handler{logical.UpdateOperation: b.issue},
			Fields:   issueFields,
			Synopsis: "Generate a key pair and return it with its certificate signed under a role.",
		},
	}
}
