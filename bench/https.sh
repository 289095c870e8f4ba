#!/usr/bin/env bash
# Benchmark `hale load` over HTTPS against oha on the same nginx TLS backend (see
# bench/README.md). nginx (one worker, TLS 1.3, a self-signed P-256 certificate made here with
# openssl) listens on one 127.0.0.1 port pinned to core $SERVER_CPU; each load generator runs
# alone, pinned to core $LOAD_CPU, closed model, $CONNS kept-alive connections, $DURATION s.
# Prints requests/s of each and the ratios, median over $ROUNDS rounds. Traffic goes only to
# 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
ROUNDS=${ROUNDS:-3}
WORK=$(mktemp -d /tmp/hale-bench-https.XXXXXX)

cleanup() {
    if [[ -f $WORK/nginx.pid ]]; then
        kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "bench: $1 is not installed ($2)" >&2; exit 2; }; }
need nginx "apt-get install nginx-light (with the ssl module)"
need openssl "apt-get install openssl"
need taskset "util-linux"
need python3 "used to find a free port and read JSON"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

echo "== building hale (release)"
(cd "$ROOT" && cargo build --release --quiet)
HALE=$ROOT/target/release/hale

# oha from crates.io at a pinned version, cached under /var/cache/hale-test (bench/setup.sh).
OHA=${OHA:-}
if [[ -z $OHA ]]; then
    eval "$("$ROOT/bench/setup.sh")"
fi

# A private CA and a server certificate it signs: `openssl req -x509` alone makes a
# certificate marked CA:TRUE, which webpki (rustls) refuses as a server's own certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=hale-bench-ca -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$WORK/key.pem" -out "$WORK/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$WORK/server.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
    -CAcreateserial -days 2 -extfile "$WORK/server.ext" -out "$WORK/cert.pem" 2>/dev/null

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
    server {
        listen 127.0.0.1:$PORT ssl;
        ssl_certificate $WORK/cert.pem;
        ssl_certificate_key $WORK/key.pem;
        ssl_protocols TLSv1.3;
        location / { return 200 '{"ok":true}'; }
    }
}
CONF
taskset -c "$SERVER_CPU" nginx -c "$WORK/nginx.conf" -p "$WORK" -g 'daemon on;'
URL=https://127.0.0.1:$PORT/
for _ in $(seq 50); do
    if curl -fsk "$URL" >/dev/null 2>&1; then break; fi
    sleep 0.1
done

run() { taskset -c "$LOAD_CPU" "$@"; }
json_field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
if "$OHA" --help | grep -- '--output-format' >/dev/null; then OHA_JSON=(--output-format json); else OHA_JSON=(--json); fi

measure() {
    case $1 in
    oha) run "$OHA" -z "${DURATION}s" -c "$CONNS" --insecure --no-tui "${OHA_JSON[@]}" "$URL" \
        | json_field 'd["summary"]["requestsPerSec"]' ;;
    insecure) run "$HALE" load --url "$URL" --insecure -c "$CONNS" -d "${DURATION}s" --breaker off \
        --output json | json_field 'd["rps"]' ;;
    cacert) run "$HALE" load --url "$URL" --cacert "$WORK/ca.pem" -c "$CONNS" -d "${DURATION}s" \
        --breaker off --output json | json_field 'd["rps"]' ;;
    esac
}

RESULTS=$WORK/results
: > "$RESULTS"
for round in $(seq "$ROUNDS"); do
    for tool in oha insecure cacert; do
        rps=$(measure "$tool")
        printf '   round %s %-8s %12.0f req/s\n' "$round" "$tool" "$rps"
        echo "$round $tool $rps" >> "$RESULTS"
        sleep 1
    done
done
echo "   (oha --insecure; insecure = hale --url --insecure --breaker off; cacert = the same,"
echo "    verifying the certificate with --cacert)"
echo "== one hale run's handshake figures"
run "$HALE" load --url "$URL" --cacert "$WORK/ca.pem" -c "$CONNS" -d 2s --breaker off --output json \
    | json_field '"connections %d, TLS handshake ms p50 %.3f p99 %.3f" % (d["connections"], d["tls"]["handshake"]["p50"], d["tls"]["handshake"]["p99"])'

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
for name, key in [("oha --insecure", "oha"), ("hale --insecure", "insecure"), ("hale --cacert", "cacert")]:
    print(f"{name:<34}{statistics.median(v[key] for v in rounds.values()):>12.0f}")
print()
print("ratios: median over rounds of the ratio within each round")
print(f"hale --insecure / oha   {median_ratio('insecure', 'oha'):6.3f}   (target >= 1.10, as over HTTP)")
print(f"hale --cacert / oha     {median_ratio('cacert', 'oha'):6.3f}")
PY
