#!/usr/bin/env bash
# bench/instances.sh: radmfa on PostgreSQL, one instance and two, against
# the FreeRADIUS 3.2.1 baseline with its TOTP secrets in SQLite
# (../shared/bench, mode sqltotp), same load tool, same machine,
# alternating runs; then push: the phone's answer reaching the other
# instance, at PUSHES pending pushes.
#
#   bench/instances.sh [ROUNDS]      (root: it configures FreeRADIUS and
#                                     runs PostgreSQL as the postgres user)
#
# PostgreSQL is Debian's, a cluster of its own in a temporary directory,
# with its defaults where durability is concerned (fsync on,
# synchronous_commit on: every accept and its audit row are on disk before
# the Access-Accept). radmfa runs as an administrator would run it: `serve
# --db postgres://...`, no tuning flags. Logins are HOTP, a fresh code each.
#
# Per round: FreeRADIUS (TOTP, codes reused: it has no replay protection);
# radmfa, one instance (N requests, P in flight); radmfa, two instances
# (two load tools at once, N/2 requests and P/2 in flight each, users of
# their own). Throughput of two instances is all their requests over the
# longer of the two runs. Medians over ROUNDS (default 3).
#
# Push: PUSHES users with push tokens; the load tool triggers pushes on
# instance A, PUSHES in flight, and its phones poll and approve through
# instance B's device API: approve-to-Accept is the time from the phone
# sending its answer to B to A's Access-Accept. Two runs: the approvals
# spread over 8 s (after 8 s: PUSHES pending), and a burst, all within 2 s
# (after 2 s).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
N=${N:-50000}
P=${P:-32}
USERS=${USERS:-1000}
PUSHES=${PUSHES:-1000}
PUSH_ROUNDS=${PUSH_ROUNDS:-1} # runs of each push shape (ROUNDS=0 PUSH_ROUNDS=3: push alone)
SHARED=${SHARED:-../shared/bench}
OUT=bench-results
WORK=$(mktemp -d /tmp/radmfa-instances.XXXXXX)
PGDIR=$(mktemp -d /tmp/radmfa-instances-pg.XXXXXX)
A_ADDR=127.0.0.1:18131
B_ADDR=127.0.0.1:18132
FR_ADDR=127.0.0.1:18120
PIDS=()
mkdir -p "$OUT"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg=()
[ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --) && chown postgres: "$PGDIR"
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  bash "$SHARED/fr-ctl.sh" stop >/dev/null 2>&1 || true
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK" "$PGDIR"
}
trap cleanup EXIT

make build >/dev/null
"${as_pg[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U postgres -E UTF8 --locale=C >/dev/null
PGPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/postgres.log" -w -o \
  "-k $PGDIR -p $PGPORT -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB" start >/dev/null
psql() { "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -q "$@"; }
psql -c 'CREATE DATABASE bench' -c 'CREATE DATABASE push'
DB="postgres://postgres@127.0.0.1:$PGPORT/bench?sslmode=disable"
PUSHDB="postgres://postgres@127.0.0.1:$PGPORT/push?sslmode=disable"
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on port $PGPORT: fsync $(psql -Atc 'SHOW fsync'), synchronous_commit $(psql -Atc 'SHOW synchronous_commit')"

# Two data dirs, one master key: every instance needs the same.
instance_dirs() { # instance_dirs A B
  mkdir -m 700 -p "$1" "$2"
  cp "$1/master.key" "$2/master.key"
}
# Users 0..USERS-1 for the one-instance runs, USERS..2*USERS-1 and
# 2*USERS..3*USERS-1 for the two load tools of the two-instance runs:
# every range keeps its own HOTP counters.
mkdir -m 700 -p "$WORK/a"
./bin/radmfa-load seed --data-dir "$WORK/a" --db "$DB" --users $((3 * USERS)) >/dev/null
instance_dirs "$WORK/a" "$WORK/b"
./bin/radmfa --data-dir "$WORK/a" --db "$DB" client add loop --cidr 127.0.0.1/32 --secret testing123 >/dev/null

start() { # start NAME DIR DB ADDR ARGS...
  local name=$1 dir=$2 db=$3 addr=$4; shift 4
  ./bin/radmfa --data-dir "$dir" --db "$db" --log-level warn serve --radius-addr "$addr" --acct-addr off --metrics-addr "" "$@" \
    >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q "listening on" "$WORK/$name.log" && return; sleep 0.1; done
  cat "$WORK/$name.log" >&2
  echo "instances.sh: $name did not start" >&2
  exit 1
}
start a "$WORK/a" "$DB" "$A_ADDR" --http-addr ""
start b "$WORK/b" "$DB" "$B_ADDR" --http-addr ""

step_room() { while [ $(( 30 - $(date +%s) % 30 )) -lt 8 ]; do sleep 1; done; }

load() { # load OUTFILE ARGS... -> the run's JSON report in OUTFILE
  local out=$1; shift
  ./bin/radmfa-load run --json "$@" >"$out"
}

bash "$SHARED/freeradius-setup.sh" sqltotp "$USERS" >"$WORK/fr-setup.log" 2>&1
bash "$SHARED/fr-ctl.sh" start >/dev/null
: >"$WORK/results.jsonl"
for r in $(seq "$ROUNDS"); do
  step_room
  load "$WORK/fr.json" --target "$FR_ADDR" --mode totp --reuse-codes -n "$N" -p "$P" --users "$USERS"
  sed 's/^{/{"server":"freeradius-sqltotp",/' "$WORK/fr.json" >>"$WORK/results.jsonl"
  load "$WORK/one.json" --target "$A_ADDR" --mode hotp -n "$N" -p "$P" --users "$USERS" --state-file "$WORK/one.state"
  sed 's/^{/{"server":"radmfa-postgres-1",/' "$WORK/one.json" >>"$WORK/results.jsonl"
  load "$WORK/twoA.json" --target "$A_ADDR" --mode hotp -n $((N / 2)) -p $((P / 2)) --users "$USERS" --first-user "$USERS" --state-file "$WORK/twoA.state" &
  la=$!
  load "$WORK/twoB.json" --target "$B_ADDR" --mode hotp -n $((N / 2)) -p $((P / 2)) --users "$USERS" --first-user $((2 * USERS)) --state-file "$WORK/twoB.state"
  wait "$la"
  python3 - "$WORK/twoA.json" "$WORK/twoB.json" >>"$WORK/results.jsonl" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
secs = max(x["seconds"] for x in (a, b))
print(json.dumps({"server": "radmfa-postgres-2", "requests": a["requests"] + b["requests"],
    "accepts": a["accepts"] + b["accepts"], "requests_per_second": (a["requests"] + b["requests"]) / secs,
    "p50_ms": max(a["p50_ms"], b["p50_ms"]), "p99_ms": max(a["p99_ms"], b["p99_ms"])}))
PY
  tail -3 "$WORK/results.jsonl"
  sleep 5 # FreeRADIUS keeps answered requests 5 s (cleanup_delay)
done
bash "$SHARED/fr-ctl.sh" stop >/dev/null

# Push across instances.
mkdir -m 700 -p "$WORK/pa"
./bin/radmfa-load seed --data-dir "$WORK/pa" --db "$PUSHDB" --type push --users "$PUSHES" >/dev/null
instance_dirs "$WORK/pa" "$WORK/pb"
./bin/radmfa --data-dir "$WORK/pa" --db "$PUSHDB" client add loop --cidr 127.0.0.1/32 --secret testing123 >/dev/null
start pa "$WORK/pa" "$PUSHDB" 127.0.0.1:18133 --http-addr 127.0.0.1:18443 --push-provider none --metrics-addr 127.0.0.1:18192
start pb "$WORK/pb" "$PUSHDB" 127.0.0.1:18134 --http-addr 127.0.0.1:18444 --push-provider none \
  --tls-cert "$WORK/pa/device-api.crt" --tls-key "$WORK/pa/device-api.key"
PIN=$(sed -n 's/.*certificate pin \([^)]*\)).*/\1/p' "$WORK/pb.log" | head -1)
for shape in $(for _ in $(seq "$PUSH_ROUNDS"); do echo "spread,8s,8s burst,2s,2s"; done); do
  IFS=, read -r -a f <<<"$shape"
  set -- "${f[@]}"
  load "$WORK/push.json" --target 127.0.0.1:18133 --mode push --users "$PUSHES" -p "$PUSHES" -n "$PUSHES" \
    --device-api https://127.0.0.1:18444 --device-pin "$PIN" --approve-after "$2" --approve-spread "$3" --timeout 30s \
    --metrics-url http://127.0.0.1:18192/metrics
  sed "s/^{/{\"server\":\"radmfa-push-across-$1\",/" "$WORK/push.json" >>"$WORK/results.jsonl"
  tail -1 "$WORK/results.jsonl"
  sleep 25 # the push trigger budget per user refills (3 at once, one per 20 s)
done

python3 - "$WORK/results.jsonl" "$OUT" <<'PY'
import json, statistics, sys, time
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["server"], []).append(r)
fields = ("requests_per_second", "p50_ms", "p99_ms")
med = {k: {f: statistics.median(x[f] for x in v) for f in fields} | {"runs": len(v), "accepts": sum(x["accepts"] for x in v),
       "requests": sum(x["requests"] for x in v)} for k, v in by.items() if not k.startswith("radmfa-push-across")}
print(f"{'server':24} {'runs':>4} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'accepted':>14}")
for k, m in med.items():
    print(f"{k:24} {m['runs']:>4} {m['requests_per_second']:>9.0f} {m['p50_ms']:>7.2f} {m['p99_ms']:>7.2f} {m['accepts']:>7}/{m['requests']}")
fr = med.get("freeradius-sqltotp")
for k in ("radmfa-postgres-1", "radmfa-postgres-2"):
    if fr and k in med:
        print(f"{k} / freeradius-sqltotp: throughput x{med[k]['requests_per_second'] / fr['requests_per_second']:.2f}, "
              f"p99 {med[k]['p99_ms']:.2f} vs {fr['p99_ms']:.2f} ms")
for p in [r for r in rows if r["server"].startswith("radmfa-push-across")]:
    print(f"{p['server']}: {p['accepts']}/{p['requests']} accepted, pending at peak {p.get('peak_pending_pushes', '?')}, "
          f"approve-to-accept p50 {p.get('approve_to_accept_p50_ms', 0):.2f} ms p99 {p.get('approve_to_accept_p99_ms', 0):.2f} ms")
for k in ("radmfa-push-across-spread", "radmfa-push-across-burst"):
    v = by.get(k, [])
    if len(v) > 1:
        print(f"{k}: median of {len(v)} runs: approve-to-accept p50 {statistics.median(x['approve_to_accept_p50_ms'] for x in v):.2f} ms "
              f"p99 {statistics.median(x['approve_to_accept_p99_ms'] for x in v):.2f} ms")
name = f"{sys.argv[2]}/instances-{time.strftime('%Y%m%dT%H%M%S')}.json"
json.dump({"runs": rows, "medians": med}, open(name, "w"), indent=1)
print("results:", name)
PY
