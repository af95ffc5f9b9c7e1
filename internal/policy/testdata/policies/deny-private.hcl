path "foo/metadata/*" {
  capabilities = ["list"]
}

path "foo/metadata/private/*" {
  capabilities = ["deny"]
}
