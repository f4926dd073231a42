#!/usr/bin/env bash
# bench/load.sh: radmfa's own load scenarios (no FreeRADIUS), as `make bench`
# runs them: 1000 HOTP users at 32 in flight; the same with 100,000 users;
# and 1000 users with 1,000,000 tokens in the database; then push: 10,000
# pushes pending at once (memory per pending push, approve-to-Accept) and a
# retransmission storm (every request sent 3 times: pushes sent = logins).
# Prints each run and the server's resident memory; appends JSON lines to
# bench-results/. The three OTP scenarios run side by side, alternating (see
# scale_scenarios). Servers run with the defaults (all CPUs, --synchronous
# FULL); PROCS=1 or SYNC=NORMAL change that.
# ONLY=scale, ONLY=push or ONLY=import runs one group alone.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50000}
ROUNDS=${ROUNDS:-9}
OUT=bench-results
mkdir -p "$OUT"
RESULTS="$OUT/load-$(date +%Y%m%dT%H%M%S).jsonl"
ADDR=127.0.0.1:18124
make build >/dev/null

# scale_scenarios: the three OTP scenarios, each on a server and database
# of its own, started together and measured in alternating rounds (ROUNDS,
# default 9), so that the drift of a shared machine's speed over minutes
# falls on all three alike (single runs one after another measured the
# 100,000-user scenario anywhere from -23% to -7.5% of the 1,000-user one).
# Each round starts at the next scenario, so each runs first, second and
# third equally often, and every run starts after a pause of a second, in
# which the server measured before it finishes its background checkpoint
# (every 250 ms). With a fixed order, tokens-1m always ran third, right
# after users-100k, and measured 0.90 of users-1k in each of the three
# rounds of load-20261123T121956; an alternating A/B of a 1000-user and a
# 1,000,000-token server just after found no difference (the cause of the
# position effect is not known).
# Each run is a JSON line; then one summary line per scenario: medians, the
# ratio of its median to users-1k's, and the ratio of each of its runs to
# users-1k's run of the same round (paired: seconds apart, where the
# medians are of runs minutes apart) with their median.
scale_scenarios() {
  local names=(users-1k users-100k tokens-1m) users=(1000 100000 1000) inv=(0 0 999000)
  local dirs=() addrs=() i k r rss runs
  SCALE_PIDS=() # global: the EXIT trap reads it
  for i in 0 1 2; do
    dirs[i]=$(mktemp -d /tmp/radmfa-load.XXXXXX)
    addrs[i]=127.0.0.1:$((18124 + i))
    ./bin/radmfa-load seed --data-dir "${dirs[i]}" --users "${users[i]}" --inventory "${inv[i]}"
    ./bin/radmfa --data-dir "${dirs[i]}" --log-level warn serve --dev --procs "${PROCS:-0}" --synchronous "${SYNC:-FULL}" \
      --radius-addr "${addrs[i]}" --acct-addr off --http-addr 127.0.0.1:0 --metrics-addr "" >"${dirs[i]}/log" 2>&1 &
    SCALE_PIDS[i]=$!
  done
  runs=$(mktemp /tmp/radmfa-load-runs.XXXXXX)
  SCALE_TMP=("${dirs[@]}" "$runs") # global, like SCALE_PIDS: removed on any exit
  trap 'kill ${SCALE_PIDS[*]} 2>/dev/null || true; sleep 0.5; rm -rf "${SCALE_TMP[@]}"' EXIT
  sleep 1
  for i in 0 1 2; do # a first run each, one login per user at least, warms the token cache
    ./bin/radmfa-load run --json --target "${addrs[i]}" --mode hotp --users "${users[i]}" -n "$(( N > users[i] ? N : users[i] ))" -p 32 \
      --state-file "${dirs[i]}/state" >/dev/null
  done
  for r in $(seq "$ROUNDS"); do
    for k in 0 1 2; do
      i=$(( (r - 1 + k) % 3 ))
      sleep 1
      # Into a file, labelled afterwards: nothing else starts during a run.
      ./bin/radmfa-load run --json --target "${addrs[i]}" --mode hotp --users "${users[i]}" -n "$N" -p 32 --state-file "${dirs[i]}/state" >"${dirs[i]}/run.json"
      rss=$(awk '/VmRSS/ {print $2}' "/proc/${SCALE_PIDS[i]}/status")
      sed "s/^{/{\"scenario\":\"${names[i]}\",\"round\":$r,\"server_rss_kib\":$rss,/" "${dirs[i]}/run.json" | tee -a "$runs"
    done
  done
  kill "${SCALE_PIDS[@]}"; wait "${SCALE_PIDS[@]}" 2>/dev/null || true
  trap - EXIT
  cat "$runs" >>"$RESULTS"
  python3 - "$runs" <<'PY' | tee -a "$RESULTS"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["scenario"], []).append(r)
med = {k: statistics.median(x["requests_per_second"] for x in v) for k, v in by.items()}
base = {x["round"]: x["requests_per_second"] for x in by["users-1k"]}
for k, v in by.items():
    print(json.dumps({"scenario": k, "summary": True, "runs": len(v),
                      "median_requests_per_second": round(med[k]),
                      "median_p99_ms": statistics.median(x["p99_ms"] for x in v),
                      "max_server_rss_kib": max(x["server_rss_kib"] for x in v),
                      "ratio_to_users_1k": round(med[k] / med["users-1k"], 3),
                      # Paired: each run against users-1k's run of the same
                      # round, seconds apart; every such ratio and their median.
                      "round_ratios": [round(x["requests_per_second"] / base[x["round"]], 3) for x in v],
                      "median_round_ratio": round(statistics.median(x["requests_per_second"] / base[x["round"]] for x in v), 3)}))
PY
  rm -f "$runs"
  for i in 0 1 2; do rm -rf "${dirs[i]}"; done
}

push_scenarios() {
  local dir pid api=127.0.0.1:18445 metrics=127.0.0.1:19814
  ulimit -n 20000 2>/dev/null || true # 10,000 NAS sockets in the load tool
  dir=$(mktemp -d /tmp/radmfa-push.XXXXXX)
  ./bin/radmfa-load seed --data-dir "$dir" --users 10000 --type push
  ./bin/radmfa --data-dir "$dir" --log-level warn serve --dev --synchronous "${SYNC:-FULL}" --radius-addr "$ADDR" --acct-addr off \
    --metrics-addr "$metrics" --http-addr "$api" --push-provider none --push-timeout 120s >"$dir/log" 2>&1 &
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

case ${ONLY:-} in
scale) scale_scenarios ;;
push) push_scenarios ;;
import) import_scenario ;;
*)
  scale_scenarios
  push_scenarios
  import_scenario
  ;;
esac
echo "results: $RESULTS"
