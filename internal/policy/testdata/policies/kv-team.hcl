# Team A reads and writes its own KV v2 secrets.
path "secret/data/team-a/*" {
  capabilities = ["create", "read", "update", "patch", "delete"]
}

path "secret/metadata/team-a/*" {
  capabilities = ["list", "read"]
}

path "secret/delete/team-a/*" {
  capabilities = ["update"]
}
