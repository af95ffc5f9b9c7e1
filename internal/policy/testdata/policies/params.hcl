path "database/roles/*" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "db_name"             = ["prod-*", "staging"]
    "default_ttl"         = [3600, "1h"]
    "creation_statements" = []
  }
  denied_parameters = {
    "revocation_statements" = []
  }
  required_parameters = ["db_name"]
}
