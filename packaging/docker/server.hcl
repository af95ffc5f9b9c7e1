# Default configuration of the keyward container image. Mount your own at
# /keyward/config/server.hcl for TLS (tls_cert_file, tls_key_file) or
# other storage. Plain HTTP here assumes TLS is terminated in front of the
# container, or that it listens on a private network only.
storage "file" {
  path = "/keyward/data"
}

listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}

api_addr = "http://127.0.0.1:8200"
# mlock needs --cap-add=IPC_LOCK; without it the server warns and runs on.
disable_mlock = false
