# Node 3 of the docker-compose.yaml example cluster. The API is plain HTTP
# on the compose network only; put TLS (tls_cert_file, tls_key_file) on
# every listener before anything but a trial. The cluster port always uses
# mutual TLS between the nodes.
listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_disable     = true
}
api_addr     = "http://keyward-3:8200"
cluster_addr = "https://keyward-3:8201"

storage "raft" {
  path    = "/keyward/data"
  node_id = "keyward-3"
  retry_join {
    leader_api_addr = "http://keyward-1:8200"
  }
}
