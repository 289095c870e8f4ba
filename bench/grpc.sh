#!/usr/bin/env bash
# `hale load --grpc` against ghz on the same generated gRPC service (one instance of
# `hale new bench --grpc`, pinned to core $SERVER_CPU), same concurrency, same duration, each
# load generator alone on core $LOAD_CPU. ghz runs twice: as it ships (every worker on one
# connection) and with --connections matching hale's one connection per worker. Prints calls/s
# of each and hale's ratio to both; goal ≥ 1.5× the first. Traffic goes only to 127.0.0.1.
#
#   bench/grpc.sh                      # DURATION=10 CONNS=32 SERVER_CPU=0 LOAD_CPU=1
#   HALE=target/debug/hale DURATION=3 bench/grpc.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
WORK=$(mktemp -d /tmp/hale-bench-grpc.XXXXXX)
server=

cleanup() {
    [[ -n $server ]] && kill "$server" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "bench: $1 is not installed ($2)" >&2; exit 2; }; }
need go "the Go toolchain builds the service and ghz"
need taskset "util-linux"
need python3 "used to find a free port and read JSON"

if [[ -z ${HALE:-} ]]; then
    echo "== building hale (release)"
    (cd "$ROOT" && cargo build --release --quiet)
    HALE=$ROOT/target/release/hale
fi
HALE=$(realpath "$HALE")
GHZ=${GHZ:-}
if [[ -z $GHZ ]]; then
    eval "$("$ROOT/bench/setup.sh" ghz)"
fi

echo "== the service: hale new bench --grpc"
"$HALE" new bench --grpc --no-tidy -q --dir "$WORK/bench"
(cd "$WORK/bench" && go build -o "$WORK/server" ./cmd/bench)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PORT=$PORT HOST=127.0.0.1 LOG_LEVEL=warn taskset -c "$SERVER_CPU" "$WORK/server" >"$WORK/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
PROTO=$WORK/bench/api/bench/v1/bench.proto
CALL=bench.v1.BenchService/Info

ghz_rps() { # extra ghz flags...
    taskset -c "$LOAD_CPU" "$GHZ" --insecure --proto "$PROTO" --call "$CALL" -d '{}' \
        -c "$CONNS" -z "${DURATION}s" --format json "$@" "127.0.0.1:$PORT" \
        | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rps"], 1))'
}

echo "== hale load --grpc: $CONNS workers, ${DURATION}s"
HALE_RPS=$(taskset -c "$LOAD_CPU" "$HALE" load --endpoints "127.0.0.1:$PORT" --grpc "$CALL" \
    --proto "$PROTO" -c "$CONNS" -d "${DURATION}s" --output json -q \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["errors"] == 0, d["errors_by_kind"]; print(round(d["rps"], 1))')
echo "== ghz (one connection)"
GHZ_RPS=$(ghz_rps)
echo "== ghz --connections $CONNS"
GHZ_CONNS_RPS=$(ghz_rps --connections "$CONNS")

printf '%-28s %12s\n' "load generator" "calls/s"
printf '%-28s %12s\n' "hale load --grpc" "$HALE_RPS"
printf '%-28s %12s\n' "ghz" "$GHZ_RPS"
printf '%-28s %12s\n' "ghz --connections $CONNS" "$GHZ_CONNS_RPS"
python3 - "$HALE_RPS" "$GHZ_RPS" "$GHZ_CONNS_RPS" <<'PY'
import sys
hale, ghz, ghz_conns = map(float, sys.argv[1:])
print(f"hale / ghz: {hale / ghz:.2f}x (goal >= 1.5x)")
print(f"hale / ghz --connections: {hale / ghz_conns:.2f}x")
PY
