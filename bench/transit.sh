#!/usr/bin/env bash
# Runs the HTTP load generator's transit workloads (encrypt and decrypt of
# 1 KiB items, one per request and batch_input of 1,000) against a Keyward
# dev server and, when a bao binary is found, an OpenBao dev server, on the
# same loopback. Both dev servers keep their storage in memory. Each round
# runs every workload on Keyward, then on OpenBao, so load from other jobs
# falls on both alike; compare within a round, and the medians over rounds.
# Figures go to docs/perf.md.
#   bench/transit.sh [concurrency] [duration]
#   BAO=/path/to/bao RUNS=3 bench/transit.sh 16 10s     (default: bao on PATH, 1 round)
#   WORKLOADS="transit-encrypt transit-decrypt" bench/transit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
C=${1:-16}; D=${2:-10s}; RUNS=${RUNS:-1}
WORKLOADS=${WORKLOADS:-transit-encrypt transit-decrypt transit-encrypt-batch transit-decrypt-batch}
BAO=${BAO:-$(command -v bao || true)}
dir=$(mktemp -d); pid=
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; fi; }
trap 'stop; rm -rf "$dir"' EXIT
go build -o "$dir/keyward" ./cmd/keyward
go build -o "$dir/loadgen" ./bench/loadgen
addr=127.0.0.1:18299
# OpenBao refuses a request body with more than 1,000 JSON strings by
# default (max_request_json_strings), so a batch of 1,000 items (2,000
# strings) needs a listener that allows it; the dev listener moves aside.
cat >"$dir/bao.hcl" <<HCL
listener "tcp" {
  address                  = "$addr"
  tls_disable              = true
  max_request_json_strings = 100000
}
HCL
wait_up() { for _ in $(seq 1 200); do curl -fs "http://$addr/v1/sys/health" >/dev/null && return; sleep 0.1; done; echo "server did not start" >&2; exit 1; }
load() {
  for w in $WORKLOADS; do
    echo "$1 $("$dir/loadgen" -addr "http://$addr" -token bench-root -workload "$w" -c "$C" -d "$D" -server-pid "$pid" | tr -s ' ' | tr '\n' ' ')"
  done
}
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); go $(go env GOVERSION); $(date -u +%FT%TZ)"
echo "keyward $(git rev-parse --short HEAD 2>/dev/null || echo unknown); ${BAO:+$("$BAO" version | head -1)}"
for r in $(seq 1 "$RUNS"); do
  echo "round $r, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  "$dir/keyward" server -dev -dev-listen-address $addr -dev-root-token-id bench-root -log-level warn >"$dir/keyward.log" 2>&1 &
  pid=$!
  wait_up
  load keyward
  stop
  if [ -z "$BAO" ]; then
    echo "openbao: no bao binary (set BAO=/path/to/bao), skipped"
    continue
  fi
  "$BAO" server -dev -dev-listen-address=127.0.0.1:18298 -config="$dir/bao.hcl" -dev-root-token-id=bench-root -log-level=warn >"$dir/bao.log" 2>&1 &
  pid=$!
  wait_up
  load openbao
  stop
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
