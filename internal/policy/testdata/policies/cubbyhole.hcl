path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

path "sys/capabilities-self" {
  capabilities = ["update"]
}

path "identity/oidc/provider/+/authorize" {
  capabilities = ["read", "update"]
}
