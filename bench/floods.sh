#!/usr/bin/env bash
# bench/floods.sh: the floods of bench/floods.py against a default server,
# one after another, with the server's peak memory (VmHWM) after each and
# what its metrics counted. A user with a HOTP token logs in twice a
# second throughout; "pushy" has a phone (radmfa-device) that never answers.
#   bench/floods.sh      (needs python3, curl)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/radmfa-floods.XXXXXX)
ADDR=127.0.0.1:18129
METRICS=127.0.0.1:9829
trap 'kill $SRV 2>/dev/null || true; rm -rf "$WORK"' EXIT
make build >/dev/null
r() { ./bin/radmfa --data-dir "$WORK/data" "$@"; }
r client add nas --cidr 127.0.0.0/29 --secret flood-s3cret-long-enough >/dev/null
r user add real >/dev/null
seed=$(r token enroll real --type hotp --json | python3 -c 'import json,sys,urllib.parse as u; print(u.parse_qs(u.urlparse(json.load(sys.stdin)["uri"]).query)["secret"][0])')
./bin/radmfa --data-dir "$WORK/data" --log-level warn serve --radius-addr "$ADDR" --acct-addr off --http-addr 127.0.0.1:0 --metrics-addr "$METRICS" \
  >"$WORK/serve.out" 2>"$WORK/serve.log" &
SRV=$!
sleep 1
r user add pushy >/dev/null
uri=$(r token enroll pushy --type push --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["activation_uri"])')
./bin/radmfa-device --state "$WORK/phone.json" enroll "$uri" >/dev/null || { cat "$WORK/serve.out" "$WORK/serve.log"; exit 1; }
rss() { awk '/VmHWM/{printf "%d MiB", $2/1024}' "/proc/$SRV/status"; }
metric() { curl -s "http://$METRICS/metrics" | awk -v m="$1" '$1==m{print $2}'; }
echo "start: peak RSS $(rss)"
for kind in sources spoofed push; do
  before=$(wc -l <"$WORK/serve.log")
  python3 bench/floods.py "$kind" "$ADDR" flood-s3cret-long-enough real "$seed" "$WORK/counter"
  echo "  peak RSS $(rss); log lines $(( $(wc -l <"$WORK/serve.log") - before ));" \
    "unknown_client $(metric 'radmfa_radius_drops_total{reason="unknown_client"}')," \
    "kernel_buffer_full $(metric 'radmfa_radius_drops_total{reason="kernel_buffer_full"}')," \
    "bad_message_authenticator $(metric 'radmfa_radius_drops_total{reason="bad_message_authenticator"}')," \
    "held $(metric radmfa_radius_held), push joined $(metric 'radmfa_push_requests_total{result="joined"}')," \
    "push refused_joined $(metric 'radmfa_push_requests_total{result="refused_joined"}')"
done
