path "ssh-client-signer/sign/my-role" {
  capabilities = ["update"]
  allowed_parameters = {
    "valid_principals" = ["ubuntu", "ec2-*"]
    "public_key" = []
    "*" = []
  }
  denied_parameters = {
    "ttl" = ["*h"]
  }
}
