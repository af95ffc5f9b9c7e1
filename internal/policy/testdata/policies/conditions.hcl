path "secret/data/prod/*" {
  capabilities = ["read", "list"]
  condition {
    source_cidrs = ["10.0.0.0/8", "2001:db8::/32"]
    time_window {
      start     = "22:00"
      end       = "06:00"
      time_zone = "Europe/Berlin"
      weekdays  = ["mon", "tue", "wed", "thu", "fri"]
    }
    mfa_max_age       = "15m"
    group_names       = ["ops"]
    claims            = { environment = ["prod"], ref = ["refs/heads/main"] }
    max_token_ttl     = "1h"
    environment_match = true
  }
  condition {
    entity_ids   = ["b5f4c0de-0000-4000-8000-000000000001"]
    environments = ["prod"]
  }
}
