path "database/creds/prod" {
  capabilities = ["read"]
  control_group {
    max_ttl = "4h"
    factor "ops" {
      identity {
        group_names = ["ops"]
        approvals = 2
      }
    }
    factor "security" {
      identity {
        group_names = ["security", "secops"]
      }
    }
  }
}
