#!/usr/bin/env bash
# bench/beside-cli.sh: what an administrator's CLI does to a loaded server.
#
#   bench/beside-cli.sh [ROUNDS]
#
# A default server (1000 HOTP users), the load tool at 32 in flight for
# 50,000 fresh logins a run; alternately alone and with a loop of CLI
# commands (reads: user list, token list, audit, reports; writes: disable
# and enable a user, set a PIN, add and delete a user) running beside it
# as fast as it can for the whole run. Prints each run, the medians and the
# ratio of throughputs; every run must have zero rejects (the load tool's
# report says). TestCLIBesideLoadRejectsNoLogin is the test of the
# rejects; this is the figure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
WORK=$(mktemp -d /tmp/radmfa-beside.XXXXXX)
ADDR=127.0.0.1:18127
trap 'kill $SRV 2>/dev/null || true; rm -rf "$WORK"' EXIT
make build >/dev/null
./bin/radmfa-load seed --data-dir "$WORK/data" --users 1000 >/dev/null
./bin/radmfa --data-dir "$WORK/data" user add spare >/dev/null
serial=$(./bin/radmfa --data-dir "$WORK/data" token enroll spare --type hotp --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serial"])')
./bin/radmfa --data-dir "$WORK/data" --log-level warn serve --dev --radius-addr "$ADDR" --acct-addr off --http-addr 127.0.0.1:0 --metrics-addr "" >"$WORK/serve.log" 2>&1 &
SRV=$!
sleep 1

cli_loop() {
  local i=0 r=./bin/radmfa d=(--data-dir "$WORK/data")
  while [ ! -e "$WORK/stop" ]; do
    i=$((i + 1))
    for args in "user list" "token list" "audit --user user0001" "report auth" "report users-with-tokens" \
      "user disable spare" "user enable spare" "token set-pin $serial --pin 4826" "user add tmp$i" "user delete tmp$i"; do
      # shellcheck disable=SC2086
      $r "${d[@]}" $args >/dev/null || echo "beside-cli: radmfa $args failed" >&2
    done
    echo $i >"$WORK/cli-rounds"
  done
}

run() { # run LABEL -> one JSON line with the label
  ./bin/radmfa-load run --json -n 50000 -p 32 --sockets 1 --users 1000 --mode hotp --state-file "$WORK/hotp.state" --target "$ADDR" >"$WORK/run.json"
  sed "s/^{/{\"run\":\"$1\",/" "$WORK/run.json" >>"$WORK/results.jsonl"
}

for r in $(seq "$ROUNDS"); do
  run alone
  rm -f "$WORK/stop"
  cli_loop &
  CLI=$!
  sleep 0.5
  run beside-cli
  touch "$WORK/stop"
  wait $CLI
  echo "round $r: $(cat "$WORK/cli-rounds") rounds of CLI commands beside the load"
done

python3 - "$WORK/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    print(f"{r['run']:12} {r['requests_per_second']:8.0f} req/s  p99 {r['p99_ms']:6.2f} ms  accepts {r['accepts']}  rejects {r['rejects']}  timeouts {r['timeouts']}")
m = {k: statistics.median(r["requests_per_second"] for r in rows if r["run"] == k) for k in ("alone", "beside-cli")}
print(f"median alone {m['alone']:.0f} req/s, beside the CLI {m['beside-cli']:.0f} req/s: x{m['beside-cli']/m['alone']:.2f}")
bad = sum(r["rejects"] + r["timeouts"] for r in rows)
print(f"rejects and timeouts in all runs: {bad}")
sys.exit(1 if bad else 0)
PY
