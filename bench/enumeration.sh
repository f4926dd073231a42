#!/usr/bin/env bash
# bench/enumeration.sh [ROUNDS]: median Access-Reject times for an unknown
# user, a user without a PIN, a user with a PIN and a disabled user, per
# password shape (bench/enumeration.py). The server runs with its rate
# limit and lockout off, so that every request takes the path of a first
# wrong guess.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-60}
WORK=$(mktemp -d /tmp/radmfa-enum.XXXXXX)
ADDR=127.0.0.1:18128
trap 'kill $SRV 2>/dev/null || true; rm -rf "$WORK"' EXIT
make build >/dev/null
r() { ./bin/radmfa --data-dir "$WORK/data" "$@" >/dev/null; }
r user add plain && r token enroll plain --type hotp
r user add pinned && r token enroll pinned --type hotp --pin 4826
r user add off && r token enroll off --type hotp && r user disable off
./bin/radmfa --data-dir "$WORK/data" --log-level warn serve --dev --radius-addr "$ADDR" --acct-addr off --http-addr 127.0.0.1:0 --metrics-addr "" \
  --failure-burst 0 --lock-after 1000000 >"$WORK/serve.log" 2>&1 &
SRV=$!
sleep 1
python3 bench/enumeration.py "$ADDR" testing123 "$ROUNDS"
