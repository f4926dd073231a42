#!/usr/bin/env bash
# bench/load.sh: radmfa's own load scenarios (no FreeRADIUS), as `make bench`
# runs them: 1000 HOTP users at 32 in flight; the same with 100,000 users;
# and 1000 users with 1,000,000 tokens in the database; then push: 10,000
# pushes pending at once (memory per pending push, approve-to-Accept) and a
# retransmission storm (every request sent 3 times: pushes sent = logins).
# Prints each run and the server's resident memory; appends JSON lines to
# bench-results/. The OTP scenarios run serve --procs 1 (PROCS=0: all CPUs),
# the faster setting on a 2-core machine shared with the load tool; the push
# scenarios run on all CPUs (device-API TLS handshakes).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50000}
OUT=bench-results
mkdir -p "$OUT"
RESULTS="$OUT/load-$(date +%Y%m%dT%H%M%S).jsonl"
ADDR=127.0.0.1:18124
make build >/dev/null

scenario() { # scenario NAME USERS INVENTORY
  local name=$1 users=$2 inv=$3 dir
  dir=$(mktemp -d /tmp/radmfa-load.XXXXXX)
  ./bin/radmfa-load seed --data-dir "$dir" --users "$users" --inventory "$inv"
  ./bin/radmfa --data-dir "$dir" --log-level warn serve --dev --procs "${PROCS:-1}" --synchronous "${SYNC:-NORMAL}" --radius-addr "$ADDR" --metrics-addr "" >"$dir/log" 2>&1 &
  local pid=$!
  sleep 1
  for _ in 1 2; do # the second run is the one with a warm cache
    ./bin/radmfa-load run --json --target "$ADDR" --mode hotp --users "$users" -n "$N" -p 32 --state-file "$dir/state" >"$dir/run.json"
  done
  local rss
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  kill $pid; wait $pid 2>/dev/null || true
  sed "s/^{/{\"scenario\":\"$name\",\"server_rss_kib\":$rss,/" "$dir/run.json" | tee -a "$RESULTS"
  rm -rf "$dir"
}

push_scenarios() {
  local dir pid api=127.0.0.1:18445 metrics=127.0.0.1:19814
  ulimit -n 20000 2>/dev/null || true # 10,000 NAS sockets in the load tool
  dir=$(mktemp -d /tmp/radmfa-push.XXXXXX)
  ./bin/radmfa-load seed --data-dir "$dir" --users 10000 --type push
  ./bin/radmfa --data-dir "$dir" --log-level warn serve --dev --radius-addr "$ADDR" --metrics-addr "$metrics" \
    --http-addr "$api" --push-provider none --push-timeout 120s >"$dir/log" 2>&1 &
  pid=$!
  sleep 1
  # 10,000 triggers at once (NAS retries every 5 s), held until the phones
  # approve, spread over 30-60 s.
  ./bin/radmfa-load run --json --target "$ADDR" --mode push --users 10000 -p 10000 -n 10000 --retry-every 5s \
    --approve-after 30s --approve-spread 30s --timeout 110s --data-dir "$dir" \
    --metrics-url "http://$metrics/metrics" --server-pid "$pid" | sed 's/^{/{"scenario":"push-10k-pending",/' | tee -a "$RESULTS"
  # A retransmission storm: every request sent 3 times.
  ./bin/radmfa-load run --json --target "$ADDR" --mode push --users 10000 -p 2000 -n 2000 --retransmit 3 --retry-every 5s \
    --approve-after 1s --approve-spread 2s --timeout 60s --data-dir "$dir" \
    --metrics-url "http://$metrics/metrics" --server-pid "$pid" | sed 's/^{/{"scenario":"push-retransmit-x3",/' | tee -a "$RESULTS"
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$dir"
}

import_scenario() { # 100,000 PSK-encrypted hardware keys into the inventory
  local dir
  dir=$(mktemp -d /tmp/radmfa-import.XXXXXX)
  (umask 077; echo 00112233445566778899aabbccddeeff >"$dir/psk.hex")
  ./bin/radmfa-load pskc --keys 100000 --out "$dir/100k.pskcxml" --key-file "$dir/psk.hex"
  ./bin/radmfa --data-dir "$dir/d" user list >/dev/null
  /usr/bin/time -f '{"scenario":"import-100k","seconds":%e,"peak_rss_kib":%M}' \
    ./bin/radmfa --data-dir "$dir/d" token import "$dir/100k.pskcxml" --key-file "$dir/psk.hex" 2>&1 >/dev/null | tee -a "$RESULTS"
  rm -rf "$dir"
}

scenario users-1k 1000 0
scenario users-100k 100000 0
scenario tokens-1m 1000 999000
push_scenarios
import_scenario
echo "results: $RESULTS"
