#!/usr/bin/env bash
# Runs the HTTP load generator against a dev server on the embedded bbolt
# store (durable writes), on this machine. Figures go to docs/perf.md.
#   bench/run.sh [concurrency] [duration]
#   WORKLOADS="token-create token-create-batch approle-login approle-login-batch" bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
C=${1:-16}; D=${2:-10s}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
go build -o "$dir/keyward" ./cmd/keyward
go build -o "$dir/loadgen" ./bench/loadgen
addr=127.0.0.1:18299
"$dir/keyward" server -dev-persist "$dir/data" -dev-listen-address $addr -dev-root-token-id bench-root -log-level warn >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs http://$addr/v1/sys/health >/dev/null && break; sleep 0.1; done
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); go $(go env GOVERSION)"
for w in ${WORKLOADS:-kv-read kv-write token-create mixed}; do
  "$dir/loadgen" -addr http://$addr -token bench-root -workload $w -c "$C" -d "$D"
done
