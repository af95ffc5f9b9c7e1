#!/usr/bin/env bash
# Runs the HTTP load generator against a Keyward raft cluster on loopback
# (real processes, one per node, fsync on every commit). Figures go to
# docs/perf.md.
#   bench/raft.sh [nodes] [concurrency] [duration]
#   PM=1 bench/raft.sh 3        performance_multiplier (default 5, Vault's)
#   SNAP=100000 bench/raft.sh 1 seed that many secrets, then time a
#                               snapshot save and restore and show RSS
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1}; C=${2:-16}; D=${3:-10s}; PM=${PM:-5}
dir=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
go build -o "$dir/keyward" ./cmd/keyward
go build -o "$dir/loadgen" ./bench/loadgen
api() { echo "127.0.0.1:$((18300 + $1 * 2))"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
for i in $(seq 1 "$N"); do
  cat >"$dir/n$i.hcl" <<EOF
listener "tcp" {
  address     = "$(api "$i")"
  tls_disable = true
}
api_addr     = "http://$(api "$i")"
cluster_addr = "https://127.0.0.1:$((18301 + i * 2))"
storage "raft" {
  path                   = "$dir/n$i"
  node_id                = "n$i"
  performance_multiplier = $PM
}
log_level = "warn"
EOF
  "$dir/keyward" server -config "$dir/n$i.hcl" >"$dir/n$i.log" 2>&1 &
  pids+=($!)
done
for i in $(seq 1 "$N"); do
  for _ in $(seq 1 100); do curl -s "http://$(api "$i")/v1/sys/seal-status" >/dev/null && break; sleep 0.1; done
done
a1=http://$(api 1)
init=$(curl -s -X PUT -d '{"secret_shares":1,"secret_threshold":1}' "$a1/v1/sys/init")
key=$(echo "$init" | json 'd["keys_base64"][0]'); tok=$(echo "$init" | json 'd["root_token"]')
curl -s -X PUT -d "{\"key\":\"$key\"}" "$a1/v1/sys/unseal" >/dev/null
until [ "$(curl -s "$a1/v1/sys/leader" | json 'd.get("is_self")' 2>/dev/null)" = "True" ]; do sleep 0.1; done
H="X-Vault-Token: $tok"
curl -s -H "$H" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$a1/v1/sys/mounts/secret" >/dev/null
curl -s -H "$H" -X PUT -d '{"server_stabilization_time":"1s"}' "$a1/v1/sys/storage/raft/autopilot/configuration" >/dev/null
for i in $(seq 2 "$N"); do
  ai=http://$(api "$i")
  curl -s -X PUT -d "{\"leader_api_addr\":\"$a1\"}" "$ai/v1/sys/storage/raft/join" >/dev/null
  curl -s -X PUT -d "{\"key\":\"$key\"}" "$ai/v1/sys/unseal" >/dev/null
done
voters() { curl -s -H "$H" "$a1/v1/sys/storage/raft/configuration" | json 'sum(1 for s in d["data"]["config"]["servers"] if s["voter"])'; }
until [ "$(voters)" = "$N" ]; do sleep 0.2; done
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); go $(go env GOVERSION); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "raft: $N node(s), performance_multiplier $PM"
rss() { awk '/VmRSS/ {print $2/1024 " MB"}' "/proc/${pids[0]}/status"; }
if [ -n "${SNAP:-}" ]; then
  echo "seeding $SNAP secrets"; start=$(date +%s.%N)
  "$dir/loadgen" -addr "$a1" -token "$tok" -workload kv-read -keys "$SNAP" -c "$C" -d 1s -warmup 0s >/dev/null
  echo "seeded in $(echo "$(date +%s.%N) - $start" | bc) s; n1 RSS $(rss)"
  for r in 1 2 3; do
    s=$(date +%s.%N); curl -sf -H "$H" -o "$dir/snap" "$a1/v1/sys/storage/raft/snapshot"
    echo "snapshot save $r: $(echo "$(date +%s.%N) - $s" | bc) s, $(stat -c %s "$dir/snap") bytes"
  done
  for r in 1 2; do
    s=$(date +%s.%N); curl -sf -H "$H" -X POST --data-binary @"$dir/snap" "$a1/v1/sys/storage/raft/snapshot" >/dev/null
    until curl -sf -H "$H" "$a1/v1/secret/data/bench/k1" >/dev/null; do sleep 0.02; done
    echo "snapshot restore $r (to the first read served): $(echo "$(date +%s.%N) - $s" | bc) s"
  done
  echo "n1 RSS after: $(rss)"
  exit 0
fi
for w in ${WORKLOADS:-kv-write kv-read}; do
  echo "== $w through the leader (n1)"
  "$dir/loadgen" -addr "$a1" -token "$tok" -workload "$w" -c "$C" -d "$D"
  if [ "$N" -gt 1 ]; then
    echo "== $w through a standby (n2, forwarded)"
    "$dir/loadgen" -addr "http://$(api 2)" -token "$tok" -workload "$w" -c "$C" -d "$D" -seed=false
  fi
done
echo "n1 RSS: $(rss)"
