path "sys/wrapping/wrap" {
  capabilities = ["update"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "24h"
}

path "pki/issue/web" {
  capabilities = ["update"]
  max_wrapping_ttl = 300
}
