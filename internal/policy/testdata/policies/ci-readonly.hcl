path "secret/data/ci/*" {
  capabilities = ["read"]
}

path "secret/metadata/ci/" {
  capabilities = ["list"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
