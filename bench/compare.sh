#!/usr/bin/env bash
# bench/compare.sh: radmfa against the FreeRADIUS 3.2.1 baseline of
# ../shared/bench, same load tool, same machine, alternating runs.
#
#   bench/compare.sh [ROUNDS]        (root: it configures FreeRADIUS)
#
# For each FreeRADIUS mode (totp = rlm_totp with secrets in memory,
# sqltotp = secrets in SQLite) it runs, ROUNDS times (default 3):
# FreeRADIUS (TOTP, codes reused: it has no replay protection, one 30 s
# step), then radmfa (HOTP, every request a fresh code, every accept
# durably recorded with its audit row). 1000 users, 32 in flight, 50k
# requests. It prints medians and ratios and writes bench-results/.
# radmfa runs with --synchronous NORMAL (SYNC=FULL to change): an accept is
# on disk before its reply, so no process kill can make its code reusable
# (TestAcceptsSurviveKill); FULL also survives power loss.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
N=${N:-50000}
P=${P:-32}
USERS=${USERS:-1000}
SYNC=${SYNC:-NORMAL}
SHARED=${SHARED:-../shared/bench}
OUT=bench-results
WORK=$(mktemp -d /tmp/radmfa-compare.XXXXXX)
RADMFA_ADDR=127.0.0.1:18122
FR_ADDR=127.0.0.1:18120
mkdir -p "$OUT"
trap 'kill $RADMFA_PID 2>/dev/null || true; bash "$SHARED/fr-ctl.sh" stop >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

make build >/dev/null
./bin/radmfa-load seed --data-dir "$WORK/data" --users "$USERS" >/dev/null
./bin/radmfa --data-dir "$WORK/data" --log-level warn serve --dev --synchronous "$SYNC" --radius-addr "$RADMFA_ADDR" --metrics-addr "" \
  >"$WORK/radmfa.log" 2>&1 &
RADMFA_PID=$!
sleep 1

# step_room waits until at least 8 s are left in the current 30 s TOTP step.
step_room() { while [ $(( 30 - $(date +%s) % 30 )) -lt 8 ]; do sleep 1; done; }

run() { # run NAME ARGS... -> one JSON line in $WORK/results.jsonl
  local name=$1; shift
  ./bin/radmfa-load run --json -n "$N" -p "$P" --users "$USERS" "$@" | sed "s/^{/{\"server\":\"$name\",/" >>"$WORK/results.jsonl"
  tail -1 "$WORK/results.jsonl"
}

for mode in totp sqltotp; do
  bash "$SHARED/freeradius-setup.sh" "$mode" "$USERS" >"$WORK/fr-setup.log" 2>&1
  bash "$SHARED/fr-ctl.sh" start >/dev/null
  for r in $(seq "$ROUNDS"); do
    step_room
    run "freeradius-$mode" --target "$FR_ADDR" --mode totp --reuse-codes
    sleep 7 # FreeRADIUS keeps answered requests 5 s (cleanup_delay)
    run "radmfa" --target "$RADMFA_ADDR" --mode hotp --state-file "$WORK/hotp.state"
  done
  bash "$SHARED/fr-ctl.sh" stop >/dev/null
done

python3 - "$WORK/results.jsonl" "$OUT" <<'PY'
import json, statistics, sys, time
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["server"], []).append(r)
med = {k: {f: statistics.median(x[f] for x in v) for f in ("requests_per_second", "p50_ms", "p99_ms")} | {"runs": len(v), "accepts": sum(x["accepts"] for x in v), "requests": sum(x["requests"] for x in v)} for k, v in by.items()}
print(f"{'server':20} {'runs':>4} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'accepted':>9}")
for k, m in med.items():
    print(f"{k:20} {m['runs']:>4} {m['requests_per_second']:>9.0f} {m['p50_ms']:>7.2f} {m['p99_ms']:>7.2f} {m['accepts']:>5}/{m['requests']}")
r = med.get("radmfa")
for fr in ("freeradius-totp", "freeradius-sqltotp"):
    if r and fr in med:
        print(f"radmfa / {fr}: throughput x{r['requests_per_second']/med[fr]['requests_per_second']:.2f}, "
              f"p99 {r['p99_ms']:.2f} vs {med[fr]['p99_ms']:.2f} ms")
name = f"{sys.argv[2]}/compare-{time.strftime('%Y%m%dT%H%M%S')}.json"
json.dump({"runs": rows, "medians": med}, open(name, "w"), indent=1)
print("results:", name)
PY
