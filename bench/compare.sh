#!/usr/bin/env bash
# bench/compare.sh: radmfa against the FreeRADIUS 3.2.1 baseline of
# ../shared/bench, same load tool, same machine, alternating runs.
#
#   bench/compare.sh [ROUNDS]        (root: it configures FreeRADIUS)
#
# For each FreeRADIUS mode (totp = rlm_totp with secrets in memory,
# sqltotp = secrets in SQLite) and each way of running it (stock, and
# pinned to CPU 0 with the baseline's own PIN=0), it runs ROUNDS times
# (default 3): FreeRADIUS (TOTP, codes reused: it has no replay
# protection, one 30 s step), then radmfa as a new user runs it (`serve`
# with no tuning flags: every accept and its audit row synced to disk
# before the Access-Accept, power-loss safe) and radmfa with
# --synchronous NORMAL (crash safe; a power loss can lose the last
# accepts). radmfa's logins are HOTP, every request a fresh code. 1000
# users, 32 in flight, 50k requests, the load tool's batched engine
# (SOCKETS=1; 0 = a socket per request). Every run also reads the server's
# CPU time (utime+stime, /proc) before and after: CPU per login.
# It prints medians and ratios (all runs of each server; and each
# FreeRADIUS setting against the radmfa runs made between its own runs,
# which the machine's drift over the minutes of a run does not skew) and
# writes bench-results/.
# LOADCPU=1 pins the load tool to CPU 1, the one pinned FreeRADIUS leaves
# free; by default the kernel places it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
N=${N:-50000}
P=${P:-32}
USERS=${USERS:-1000}
SOCKETS=${SOCKETS:-1}
SHARED=${SHARED:-../shared/bench}
LOADCPU=${LOADCPU:-} # e.g. 1: the load tool runs on that CPU only
OUT=bench-results
WORK=$(mktemp -d /tmp/radmfa-compare.XXXXXX)
RADMFA_ADDR=127.0.0.1:18122
RADMFA_NORMAL_ADDR=127.0.0.1:18126
FR_ADDR=127.0.0.1:18120
mkdir -p "$OUT"
trap 'kill $RADMFA_PID $RADMFA_NORMAL_PID 2>/dev/null || true; bash "$SHARED/fr-ctl.sh" stop >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

make build >/dev/null
./bin/radmfa-load seed --data-dir "$WORK/data" --users "$USERS" >/dev/null
./bin/radmfa-load seed --data-dir "$WORK/data-normal" --users "$USERS" >/dev/null
# --dev adds the loopback client; --http-addr :0 keeps the device API off
# the default port; nothing else is tuned.
./bin/radmfa --data-dir "$WORK/data" --log-level warn serve --dev --radius-addr "$RADMFA_ADDR" --acct-addr off --http-addr 127.0.0.1:0 --metrics-addr "" \
  >"$WORK/radmfa.log" 2>&1 &
RADMFA_PID=$!
./bin/radmfa --data-dir "$WORK/data-normal" --log-level warn serve --dev --synchronous NORMAL --radius-addr "$RADMFA_NORMAL_ADDR" --acct-addr off --http-addr 127.0.0.1:0 --metrics-addr "" \
  >"$WORK/radmfa-normal.log" 2>&1 &
RADMFA_NORMAL_PID=$!
sleep 1
if ! kill -0 "$RADMFA_PID" 2>/dev/null || ! kill -0 "$RADMFA_NORMAL_PID" 2>/dev/null; then
  cat "$WORK/radmfa.log" "$WORK/radmfa-normal.log" >&2
  echo "compare.sh: radmfa did not start (ports $RADMFA_ADDR, $RADMFA_NORMAL_ADDR in use?)" >&2
  exit 1
fi

step_room() { while [ $(( 30 - $(date +%s) % 30 )) -lt 8 ]; do sleep 1; done; }

cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # run NAME PID ARGS... -> one JSON line in $WORK/results.jsonl
  local name=$1 pid=$2; shift 2
  local c0 c1
  c0=$(cputicks "$pid")
  # The report goes to a file and is labelled afterwards: a process started
  # beside the run (as a pipe's other end is) takes CPU from it.
  ${LOADCPU:+taskset -c "$LOADCPU"} ./bin/radmfa-load run --json -n "$N" -p "$P" --sockets "$SOCKETS" --users "$USERS" "$@" >"$WORK/run.json"
  c1=$(cputicks "$pid")
  sed "s/^{/{\"server\":\"$name\",\"segment\":\"$SEGMENT\",\"load_cpu\":\"$LOADCPU\",\"server_cpu_s\":$(( c1 - c0 ))e-2,/" "$WORK/run.json" >>"$WORK/results.jsonl"
  tail -1 "$WORK/results.jsonl"
}

for mode in totp sqltotp; do
  bash "$SHARED/freeradius-setup.sh" "$mode" "$USERS" >"$WORK/fr-setup.log" 2>&1
  for pin in "" 0; do
    name=freeradius-$mode${pin:+-pinned}
    SEGMENT=$name # the radmfa runs interleaved with this setting's
    PIN=$pin bash "$SHARED/fr-ctl.sh" start >/dev/null
    FR_PID=$(cat "${ANCHOR_DIR:-/tmp/freeradius-anchor}/radiusd.pid")
    for r in $(seq "$ROUNDS"); do
      step_room
      run "$name" "$FR_PID" --target "$FR_ADDR" --mode totp --reuse-codes
      run "radmfa" "$RADMFA_PID" --target "$RADMFA_ADDR" --mode hotp --state-file "$WORK/hotp.state"
      run "radmfa-normal" "$RADMFA_NORMAL_PID" --target "$RADMFA_NORMAL_ADDR" --mode hotp --state-file "$WORK/hotp-normal.state"
      sleep 5 # FreeRADIUS keeps answered requests 5 s (cleanup_delay)
    done
    bash "$SHARED/fr-ctl.sh" stop >/dev/null
  done
done

python3 - "$WORK/results.jsonl" "$OUT" "$LOADCPU" <<'PY'
import json, statistics, sys, time
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["server"], []).append(r)
for r in rows:
    r["cpu_us_per_login"] = r["server_cpu_s"] * 1e6 / r["requests"]
fields = ("requests_per_second", "p50_ms", "p99_ms", "cpu_us_per_login")
med = {k: {f: statistics.median(x[f] for x in v) for f in fields} | {"runs": len(v), "accepts": sum(x["accepts"] for x in v), "requests": sum(x["requests"] for x in v)} for k, v in by.items()}
print(f"{'server':30} {'runs':>4} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/login':>12} {'accepted':>9}")
for k, m in med.items():
    print(f"{k:30} {m['runs']:>4} {m['requests_per_second']:>9.0f} {m['p50_ms']:>7.2f} {m['p99_ms']:>7.2f} {m['cpu_us_per_login']:>12.1f} {m['accepts']:>5}/{m['requests']}")
pairs = [(ours, fr) for ours in ("radmfa", "radmfa-normal")
         for fr in ("freeradius-totp", "freeradius-totp-pinned", "freeradius-sqltotp", "freeradius-sqltotp-pinned")]
for ours, fr in pairs:
    if ours in med and fr in med:
        r = med[ours]
        print(f"{ours} / {fr}: throughput x{r['requests_per_second']/med[fr]['requests_per_second']:.2f}, "
              f"p99 {r['p99_ms']:.2f} vs {med[fr]['p99_ms']:.2f} ms, CPU per login {r['cpu_us_per_login']:.1f} vs {med[fr]['cpu_us_per_login']:.1f} us")
# The machine's speed drifts over the minutes a run takes (other tenants),
# which is why the runs alternate: so also compare each FreeRADIUS setting
# with the radmfa runs made between its own runs, medians of each.
print("paired with the radmfa runs made between each setting's runs:")
paired = {}
for ours, fr in pairs:
    a = [x for x in by.get(ours, []) if x.get("segment") == fr]
    b = by.get(fr, [])
    if not a or not b:
        continue
    ma = {f: statistics.median(x[f] for x in a) for f in ("requests_per_second", "p99_ms")}
    mb = {f: statistics.median(x[f] for x in b) for f in ("requests_per_second", "p99_ms")}
    paired[f"{ours}/{fr}"] = {"ours": ma, "theirs": mb, "throughput_ratio": ma["requests_per_second"] / mb["requests_per_second"]}
    print(f"  {ours} / {fr}: {ma['requests_per_second']:.0f} vs {mb['requests_per_second']:.0f} req/s, "
          f"x{ma['requests_per_second']/mb['requests_per_second']:.2f}, p99 {ma['p99_ms']:.2f} vs {mb['p99_ms']:.2f} ms")
name = f"{sys.argv[2]}/compare-{time.strftime('%Y%m%dT%H%M%S')}{'-loadcpu' + sys.argv[3] if sys.argv[3] else ''}.json"
json.dump({"runs": rows, "medians": med, "paired": paired}, open(name, "w"), indent=1)
print("results:", name)
PY
