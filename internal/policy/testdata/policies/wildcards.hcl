path "secret/+/team-b/*" {
  capabilities = ["read", "list"]
}

path "+/data/shared" {
  capabilities = ["read"]
}

path "secret/data/app-*" {
  capabilities = ["read"]
}
