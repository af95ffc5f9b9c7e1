#!/usr/bin/env bash
# Runs the HTTP load generator's pki-issue workloads (issue/ROLE: the server
# generates an ed25519, EC P-256 or RSA-2048 key and signs a 1h leaf with an
# EC P-256 root) against a Keyward dev server and, when a bao binary is
# found, an OpenBao dev server, on the same loopback. Both dev servers keep
# their storage in memory (Keyward's on bbolt with KEYWARD_STORAGE=bolt).
# Each workload runs on a fresh server (Keyward's in-memory store scans
# every key to list a prefix, so certificates left by the previous workload
# would slow the next), first Keyward's, then OpenBao's, so load from other
# jobs falls on both alike; compare within a round, and the medians over
# rounds, and the server CPU time per request (-server-pid), which the
# load of other jobs sways less than throughput. With CRL_N set, it then fills a mount
# on each server with CRL_N revoked certificates (bench/crlfill) and times
# crl/rotate (median of 3). Keyward rebuilds the full CRL on every
# revocation, which makes filling it O(n^2): it is filled with config/crl
# disable=true (each rebuild is then an empty CRL) and CRLs are enabled
# again before the timed rebuilds. OpenBao is filled with auto_rebuild=true,
# so its revocations rebuild nothing. CRL_KEYWARD=0 skips Keyward.
# The load generator uses net/http's client (-client std): OpenBao answers
# issue/ROLE with chunked bodies, which the raw client does not read.
# Figures go to docs/perf.md.
#   bench/pki.sh [concurrency] [duration]
#   BAO=/path/to/bao RUNS=3 bench/pki.sh 16 10s     (default: bao on PATH, 1 round)
#   WORKLOADS="pki-issue-ed25519" CRL_N=10000 CRL_KEYWARD=0 bench/pki.sh
#   KEYWARD_STORAGE=bolt bench/pki.sh    (Keyward on -dev-persist: bbolt, fsync)
set -euo pipefail
cd "$(dirname "$0")/.."
C=${1:-16}; D=${2:-10s}; RUNS=${RUNS:-1}; CRL_N=${CRL_N:-0}; CRL_KEYWARD=${CRL_KEYWARD:-1}
KEYWARD_STORAGE=${KEYWARD_STORAGE:-inmem}
WORKLOADS=${WORKLOADS:-pki-issue-ed25519 pki-issue-ec pki-issue-rsa}
BAO=${BAO:-$(command -v bao || true)}
dir=$(mktemp -d); pid=
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; fi; }
trap 'stop; rm -rf "$dir"' EXIT
go build -o "$dir/keyward" ./cmd/keyward
go build -o "$dir/loadgen" ./bench/loadgen
go build -o "$dir/crlfill" ./bench/crlfill
addr=127.0.0.1:18299
wait_up() { for _ in $(seq 1 200); do curl -fs "http://$addr/v1/sys/health" >/dev/null && return; sleep 0.1; done; echo "server did not start" >&2; exit 1; }
api() { curl -fsS -o /dev/null -H "X-Vault-Token: bench-root" -X "$1" "http://$addr/v1/$2" ${3:+-d "$3"}; }
# setup mounts pki with an EC P-256 root and the roles ed25519, ec (P-256)
# and rsa (2048) for names under example.com; revocations do not rebuild
# the CRL on OpenBao (auto_rebuild), so crl/rotate does the whole build.
setup() {
  api POST sys/mounts/pki '{"type":"pki"}'
  api POST pki/root/generate/internal '{"common_name":"Bench Root","key_type":"ec","key_bits":256,"ttl":"8760h"}'
  for r in "ed25519 ed25519 0" "ec ec 256" "rsa rsa 2048"; do
    set -- $r
    api POST "pki/roles/$1" "{\"allowed_domains\":\"example.com\",\"allow_subdomains\":true,\"key_type\":\"$2\",\"key_bits\":$3,\"ttl\":\"1h\",\"max_ttl\":\"24h\"}"
  done
}
load() {
  echo "$1 $("$dir/loadgen" -addr "http://$addr" -token bench-root -seed=false -client std -workload "$2" -c "$C" -d "$D" -server-pid "$pid" | tr -s ' ' | tr '\n' ' ')"
}
crl() {
  local after=()
  if [ "$1" = keyward ]; then api POST pki/config/crl '{"disable":true}'; after=(-crl-config-after '{"disable":false}'); fi
  echo "$1 crl, load average $(cut -d' ' -f1-3 /proc/loadavg): $("$dir/crlfill" -addr "http://$addr" -token bench-root -role ed25519 -n "$CRL_N" -c "$C" "${after[@]}" | tr '\n' ' ')"
}
start_keyward() {
  local store=(-dev)
  if [ "$KEYWARD_STORAGE" = bolt ]; then rm -rf "$dir/data"; store=(-dev-persist "$dir/data"); fi
  "$dir/keyward" server "${store[@]}" -dev-listen-address $addr -dev-root-token-id bench-root -log-level warn >"$dir/keyward.log" 2>&1 &
  pid=$!; wait_up; setup
}
start_bao() {
  "$BAO" server -dev -dev-listen-address=$addr -dev-root-token-id=bench-root -log-level=warn >"$dir/bao.log" 2>&1 &
  pid=$!; wait_up; setup
  api POST pki/config/crl '{"auto_rebuild":true}'
}
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); go $(go env GOVERSION); $(date -u +%FT%TZ)"
echo "keyward $(git rev-parse --short HEAD 2>/dev/null || echo unknown); ${BAO:+$("$BAO" version | head -1)}"
for r in $(seq 1 "$RUNS"); do
  echo "round $r, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  for w in $WORKLOADS; do
    start_keyward; load keyward "$w"; stop
    if [ -n "$BAO" ]; then start_bao; load openbao "$w"; stop; fi
  done
  [ -n "$BAO" ] || echo "openbao: no bao binary (set BAO=/path/to/bao), skipped"
done
if [ "$CRL_N" -gt 0 ]; then
  if [ "$CRL_KEYWARD" = 1 ]; then start_keyward; crl keyward; stop; fi
  if [ -n "$BAO" ]; then start_bao; crl openbao; stop; fi
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
