package policy

// DefaultName is the name of the built-in policy attached to tokens unless
// they opt out.
const DefaultName = "default"

// RootName is the name that marks a root token. The policy package never
// grants anything for it: the caller (core) treats a token whose policy
// list is exactly ["root"] as root and bypasses ACL checks, and must refuse
// to create, update or delete a policy of that name. Names are compared
// exactly, so "Root" or " root" are not root (and fail ValidName).
const RootName = "root"

// DefaultPolicyText is the built-in "default" policy, equivalent to
// Vault's: a token may inspect, renew and revoke itself, use its cubbyhole,
// response wrapping, hashing, control group requests, lease renewal and
// lookup, and the OIDC authorize endpoint.
const DefaultPolicyText = `# Allow tokens to look up their own properties.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# Allow tokens to renew and revoke themselves.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path.
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# Allow a token to look up its own entity.
path "identity/entity/id/{{identity.entity.id}}" {
  capabilities = ["read"]
}

path "identity/entity/name/{{identity.entity.name}}" {
  capabilities = ["read"]
}

# Allow a token to look up its resultant ACL from all policies.
path "sys/internal/ui/resultant-acl" {
  capabilities = ["read"]
}

# Allow renewing and looking up leases by lease_id in the request body.
path "sys/renew" {
  capabilities = ["update"]
}

path "sys/leases/renew" {
  capabilities = ["update"]
}

path "sys/leases/lookup" {
  capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole.
path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow response wrapping of arbitrary values and wrapping token operations.
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}

path "sys/wrapping/lookup" {
  capabilities = ["update"]
}

path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}

# Allow general purpose tools.
path "sys/tools/hash" {
  capabilities = ["update"]
}

path "sys/tools/hash/*" {
  capabilities = ["update"]
}

# Allow a token to make requests to the control group request endpoint.
path "sys/control-group/request" {
  capabilities = ["update"]
}

# Allow a token to use OIDC providers' authorize endpoint.
path "identity/oidc/provider/+/authorize" {
  capabilities = ["read", "update"]
}
`

// Default returns the parsed built-in default policy.
func Default() *Policy {
	p, err := Parse(DefaultName, DefaultPolicyText)
	if err != nil {
		panic("policy: built-in default policy does not parse: " + err.Error())
	}
	return p
}
