#!/usr/bin/env bash
# Benchmark `hale load` against oha and wrk on the same nginx backends (see bench/README.md).
#
# nginx (one worker) serves three 127.0.0.1 ports pinned to core $SERVER_CPU; each load
# generator runs alone, pinned to core $LOAD_CPU, closed model, $CONNS connections, $DURATION s.
# Prints requests/s of each and the ratios. PROFILE=1 adds a perf (or callgrind) profile of a
# short hale run. Traffic goes only to 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
WORK=$(mktemp -d /tmp/hale-bench.XXXXXX)

cleanup() {
    if [[ -f $WORK/nginx.pid ]]; then
        kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "bench: $1 is not installed ($2)" >&2; exit 2; }; }
need nginx "apt-get install nginx-light"
need wrk "apt-get install wrk"
need taskset "util-linux"
need python3 "used to find free ports and read JSON"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(free_port); P2=$(free_port); P3=$(free_port)

echo "== building hale (release)"
(cd "$ROOT" && cargo build --release --quiet)
HALE=$ROOT/target/release/hale

# oha from crates.io at a pinned version, cached under /var/cache/hale-test (bench/setup.sh).
OHA=${OHA:-}
if [[ -z $OHA ]]; then
    eval "$("$ROOT/bench/setup.sh")"
fi

cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_temp_path $WORK/body;
    proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi;
    uwsgi_temp_path $WORK/uwsgi;
    scgi_temp_path $WORK/scgi;
    default_type application/json;
    server { listen 127.0.0.1:$P1; location / { add_header X-Instance-ID b1; return 200 '{"ok":true}'; } }
    server { listen 127.0.0.1:$P2; location / { add_header X-Instance-ID b2; return 200 '{"ok":true}'; } }
    server { listen 127.0.0.1:$P3; location / { add_header X-Instance-ID b3; return 200 '{"ok":true}'; } }
}
CONF
taskset -c "$SERVER_CPU" nginx -c "$WORK/nginx.conf" -p "$WORK" -g 'daemon on;'
for p in $P1 $P2 $P3; do
    for _ in $(seq 50); do
        if curl -fs "http://127.0.0.1:$p/" >/dev/null 2>&1; then break; fi
        sleep 0.1
    done
done

URL=http://127.0.0.1:$P1/
run() { taskset -c "$LOAD_CPU" "$@"; }
json_field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

if "$OHA" --help | grep -- '--output-format' >/dev/null; then OHA_JSON=(--output-format json); else OHA_JSON=(--json); fi
ENDPOINTS="127.0.0.1:$P1,127.0.0.1:$P2,127.0.0.1:$P3"
measure() {
    case $1 in
    wrk) run wrk -t1 -c"$CONNS" -d"${DURATION}s" "$URL" | awk '/Requests\/sec/ {print $2}' ;;
    oha) run "$OHA" -z "${DURATION}s" -c "$CONNS" --no-tui "${OHA_JSON[@]}" "$URL" | json_field 'd["summary"]["requestsPerSec"]' ;;
    url) run "$HALE" load --url "$URL" -c "$CONNS" -d "${DURATION}s" --breaker off --output json | json_field 'd["rps"]' ;;
    x1) run "$HALE" load --endpoints "127.0.0.1:$P1" -s p2c-ewma -c "$CONNS" -d "${DURATION}s" --output json | json_field 'd["rps"]' ;;
    x3) run "$HALE" load --endpoints "$ENDPOINTS" -s p2c-ewma -c "$CONNS" -d "${DURATION}s" --output json | json_field 'd["rps"]' ;;
    esac
}
# The tools take turns, ROUNDS times. A ratio is computed inside each round (the tools ran
# seconds apart, under the same neighbours) and the median over rounds is printed, so a
# neighbour's burst on a shared machine spoils one round's pair, not the result.
ROUNDS=${ROUNDS:-3}
RESULTS=$WORK/results
: > "$RESULTS"
for round in $(seq "$ROUNDS"); do
    for tool in wrk oha url x1 x3; do
        rps=$(measure "$tool")
        printf '   round %s %-4s %12.0f req/s\n' "$round" "$tool" "$rps"
        echo "$round $tool $rps" >> "$RESULTS"
        sleep 1
    done
done
echo "   (wrk -t1; oha; url = hale --url --breaker off; x1 = hale p2c-ewma + breaker on one endpoint;"
echo "    x3 = hale p2c-ewma + breakers over three endpoints)"

python3 - "$RESULTS" <<'PY'
import statistics, sys
rounds = {}
for line in open(sys.argv[1]):
    r, tool, rps = line.split()
    rounds.setdefault(r, {})[tool] = float(rps)
def median_ratio(a, b):
    return statistics.median(v[a] / v[b] for v in rounds.values())
print()
print(f"{'tool (median of rounds)':<34}{'req/s':>12}")
for name, key in [("wrk", "wrk"), ("oha", "oha"), ("hale --url", "url"),
                  ("hale p2c-ewma + breaker (x1)", "x1"), ("hale p2c-ewma + breakers (x3)", "x3")]:
    print(f"{name:<34}{statistics.median(v[key] for v in rounds.values()):>12.0f}")
print()
print("ratios: median over rounds of the ratio within each round")
print(f"hale --url / oha          {median_ratio('url', 'oha'):6.3f}   (target >= 1.10)")
print(f"hale --url / wrk          {median_ratio('url', 'wrk'):6.3f}   (target >= 0.90)")
print(f"hale p2c+breaker x1 / url {median_ratio('x1', 'url'):6.3f}   (target >= 0.97: balancer + breaker cost)")
print(f"hale p2c+breakers x3 / url{median_ratio('x3', 'url'):6.3f}   (3x the connections: one per worker per instance)")
PY

if [[ ${PROFILE:-0} == 1 ]]; then
    echo
    echo "== profile: 3 s of hale load through p2c-ewma with breakers"
    if perf record -o "$WORK/perf.data" -g -- true >/dev/null 2>&1; then
        run perf record -q -o "$WORK/perf.data" -- "$HALE" load \
            --endpoints "127.0.0.1:$P1,127.0.0.1:$P2,127.0.0.1:$P3" -c "$CONNS" -d 3s -q --output json >/dev/null
        echo "-- where time goes, by object (kernel = the TCP loopback path, both directions)"
        perf report -i "$WORK/perf.data" --sort dso --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8 || true
        echo "-- hottest symbols (hale's own frames are unnamed: the release profile strips symbols)"
        perf report -i "$WORK/perf.data" --sort sym --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -20 || true
    else
        need valgrind "perf is not permitted here; callgrind is the fallback"
        run valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" "$HALE" load \
            --endpoints "127.0.0.1:$P1,127.0.0.1:$P2,127.0.0.1:$P3" -c 16 -n 20000 -q --output json >/dev/null 2>&1
        callgrind_annotate "$WORK/callgrind.out" 2>/dev/null | head -40 || true
    fi
fi
