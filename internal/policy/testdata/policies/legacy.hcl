path "secret/*" {
  policy = "write"
}

path "secret/super-secret" {
  policy = "deny"
}
