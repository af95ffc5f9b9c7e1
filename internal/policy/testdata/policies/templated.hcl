path "secret/data/{{identity.entity.name}}/*" {
  capabilities = ["create", "read", "update", "delete"]
}

path "secret/metadata/{{identity.entity.name}}/*" {
  capabilities = ["list"]
}

path "kv/{{identity.entity.aliases.auth_userpass_1.metadata.team}}/*" {
  capabilities = ["read"]
}

path "identity/entity/id/{{identity.entity.id}}" {
  capabilities = ["read"]
}
