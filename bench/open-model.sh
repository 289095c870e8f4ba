#!/usr/bin/env bash
# How close `hale load`'s open model comes to its target rate (see bench/README.md).
#
# nginx (one worker) serves one 127.0.0.1 port pinned to core $SERVER_CPU; hale runs pinned to
# core $LOAD_CPU with `--rate R -d $DURATION` for each rate in $RATES, ROUNDS times, and prints
# achieved/target per run and the median per rate (target: within 1 %, i.e. 0.99-1.01). If oha
# is cached (bench/setup.sh builds it under /var/cache/hale-test), its `-q R` runs alongside
# as the named peer. HALE=path picks the binary (default: a release build). Traffic goes only
# to 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-5}
RATES=${RATES:-"1000 5000 20000"}
ROUNDS=${ROUNDS:-3}
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
need taskset "util-linux"
need python3 "used to find a free port and read JSON"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

if [[ -z ${HALE:-} ]]; then
    echo "== building hale (release)"
    (cd "$ROOT" && cargo build --release --quiet)
    HALE=$ROOT/target/release/hale
fi
# oha only when bench/setup.sh has already cached it (this script does not build it).
OHA=${OHA:-}
OHA_CACHED=${HALE_TEST_CACHE:-/var/cache/hale-test}/oha-${OHA_VERSION:-1.16.0}/bin/oha
[[ -z $OHA && -x $OHA_CACHED ]] && OHA=$OHA_CACHED

cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $WORK/body;
    proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi;
    uwsgi_temp_path $WORK/uwsgi;
    scgi_temp_path $WORK/scgi;
    default_type application/json;
    server { listen 127.0.0.1:$PORT; location / { add_header X-Instance-ID b1; return 200 '{"ok":true}'; } }
}
CONF
taskset -c "$SERVER_CPU" nginx -c "$WORK/nginx.conf" -p "$WORK" -g 'daemon on;'
for _ in $(seq 50); do
    if curl -fs "http://127.0.0.1:$PORT/" >/dev/null 2>&1; then break; fi
    sleep 0.1
done

json_field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
if [[ -n $OHA ]] && "$OHA" --help | grep -- '--output-format' >/dev/null; then
    OHA_JSON=(--output-format json)
else
    OHA_JSON=(--json)
fi

RESULTS=$WORK/results
: > "$RESULTS"
for round in $(seq "$ROUNDS"); do
    for rate in $RATES; do
        rps=$(taskset -c "$LOAD_CPU" "$HALE" load --endpoints "127.0.0.1:$PORT" --rate "$rate" \
            -d "${DURATION}s" --output json | json_field 'd["rps"]')
        echo "$rate hale $rps" >> "$RESULTS"
        printf '   round %s rate %6s  hale %10.1f req/s  ratio %.4f\n' "$round" "$rate" "$rps" \
            "$(echo "$rps / $rate" | bc -l)"
        if [[ -n $OHA ]]; then
            rps=$(taskset -c "$LOAD_CPU" "$OHA" -q "$rate" -z "${DURATION}s" -c 64 --no-tui \
                "${OHA_JSON[@]}" "http://127.0.0.1:$PORT/" | json_field 'd["summary"]["requestsPerSec"]')
            echo "$rate oha $rps" >> "$RESULTS"
            printf '   round %s rate %6s  oha  %10.1f req/s  ratio %.4f\n' "$round" "$rate" "$rps" \
                "$(echo "$rps / $rate" | bc -l)"
        fi
        sleep 1
    done
done

python3 - "$RESULTS" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    rate, tool, rps = line.split()
    runs.setdefault((int(rate), tool), []).append(float(rps) / int(rate))
print()
print(f"{'rate':>8} {'tool':<5} {'achieved/target (median)':>26}  within 1 %")
for (rate, tool), ratios in sorted(runs.items()):
    m = statistics.median(ratios)
    print(f"{rate:>8} {tool:<5} {m:>26.4f}  {'met' if abs(m - 1) <= 0.01 else 'missed'}")
PY
