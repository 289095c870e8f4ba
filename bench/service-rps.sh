#!/usr/bin/env bash
# Requests per second of the generated service with every middleware on, against a bare
# net/http hello handler, both loaded by wrk on 127.0.0.1 with server and load generator pinned
# to different CPUs. Prints both rates and their ratio (target >= 0.85, issue 23).
#
# A third server is the same hello handler in an http.Server with the service's default
# timeouts (read-header 5s, read 10s, write 15s, idle 60s: the slow-client protection every
# hale service has). Its ratio to the service is what the middleware chain itself costs; its
# ratio to the bare hello is what the timeouts cost net/http (they re-arm connection deadlines
# several times per request).
#
# On a shared machine the rate follows whatever else runs on the server's CPU, so the script
# also prints the CPU time each server spent per request (user + system, from /proc/PID/stat,
# over the same load): its ratio, hello's CPU per request over the service's, says the same
# thing as the rate ratio on an idle machine and moves much less with the neighbours.
#
# The two servers are loaded in alternation for ROUNDS rounds (default 3); the ratio is taken
# inside each round, where both ran seconds apart under the same neighbours, and the median of
# the rounds' ratios is printed (as bench/load.sh does).
#
# Usage: bench/service-rps.sh [duration] [connections]   e.g. bench/service-rps.sh 10s 32
#   HALE=path/to/hale picks the hale binary; SERVER_CPU / WRK_CPU pick the CPUs (default 0 / 1).
set -euo pipefail

duration=${1:-10s}
connections=${2:-32}
server_cpu=${SERVER_CPU:-0}
wrk_cpu=${WRK_CPU:-1}
target=0.85
root=$(cd "$(dirname "$0")/.." && pwd)
hale=${HALE:-}
if [[ -z $hale ]]; then
  # Only the templates matter here, so a fresh debug build (cheap, never stale) will do.
  (cd "$root" && cargo build --quiet)
  hale=$root/target/debug/hale
fi
for tool in go wrk taskset python3; do
  command -v "$tool" >/dev/null || { echo "bench/service-rps.sh: $tool is not installed" >&2; exit 2; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ready() { # url
  for _ in $(seq 1 200); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "bench/service-rps.sh: $1 never answered" >&2
  exit 1
}

echo "building the generated service and the bare hello server..."
HALE_STATE_DIR=$work/state "$hale" -q new rpsbench --no-tidy --dir "$work/svc"
(cd "$work/svc" && go build -trimpath -o "$work/svc-bin" ./cmd/rpsbench)

mkdir -p "$work/hello"
cat > "$work/hello/main.go" <<'GO'
// A bare net/http server: the baseline the generated service is compared with. With
// TIMEOUTS=1 it has the generated service's default server timeouts.
package main

import (
	"net/http"
	"os"
	"time"
)

func main() {
	body := []byte(`{"service":"hello","instance":"hello-1","version":"dev"}` + "\n")
	http.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT")}
	if os.Getenv("TIMEOUTS") == "1" {
		srv.ReadHeaderTimeout = 5 * time.Second // READ_HEADER_TIMEOUT
		srv.ReadTimeout = 10 * time.Second      // READ_TIMEOUT: REQUEST_TIMEOUT
		srv.WriteTimeout = 15 * time.Second     // WRITE_TIMEOUT: REQUEST_TIMEOUT + 5s
		srv.IdleTimeout = 60 * time.Second      // IDLE_TIMEOUT
	}
	if err := srv.ListenAndServe(); err != nil {
		panic(err)
	}
}
GO
(cd "$work/hello" && cat > go.mod <<'MOD'
module hello

go 1.22
MOD
go build -trimpath -o "$work/hello-bin" .)

cpu_ticks() { # pid -> user + system clock ticks so far
  awk '{print $14 + $15}' "/proc/$1/stat"
}

load() { # name url pid -> prints "requests/s cpu-microseconds-per-request"
  local out before after requests
  before=$(cpu_ticks "$3")
  out=$(taskset -c "$wrk_cpu" wrk -t1 -c"$connections" -d"$duration" --latency "$2")
  after=$(cpu_ticks "$3")
  echo "$out" >"$work/$1.wrk"
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  python3 -c "import os; print($(awk '/^Requests\/sec:/ {print $2}' <<<"$out"), round(($after - $before) / os.sysconf('SC_CLK_TCK') * 1e6 / $requests, 2))"
}

# The generated service with everything on: rate limiting high enough never to throttle,
# load shedding, fault injection with no faults configured, admin, request timeout, body limit.
svc_port=$(free_port)
PORT=$svc_port HOST=127.0.0.1 GOMAXPROCS=1 LOG_LEVEL=info DRAIN_DELAY=0s \
  RATE_LIMIT_RPS=10000000 RATE_LIMIT_BURST=10000000 MAX_IN_FLIGHT=100000 \
  FAULT_INJECTION=true FAULT_ERROR_RATE=0 FAULT_LATENCY=0s ADMIN_ENABLED=true ADMIN_ADDR=127.0.0.1:0 \
  taskset -c "$server_cpu" "$work/svc-bin" >"$work/svc.log" 2>&1 &
svc_pid=$!
pids+=($svc_pid)
wait_ready "http://127.0.0.1:$svc_port/readyz"

hello_port=$(free_port)
PORT=$hello_port GOMAXPROCS=1 taskset -c "$server_cpu" "$work/hello-bin" >"$work/hello.log" 2>&1 &
hello_pid=$!
pids+=($hello_pid)
wait_ready "http://127.0.0.1:$hello_port/"

timed_port=$(free_port)
PORT=$timed_port TIMEOUTS=1 GOMAXPROCS=1 taskset -c "$server_cpu" "$work/hello-bin" >"$work/timed.log" 2>&1 &
timed_pid=$!
pids+=($timed_pid)
wait_ready "http://127.0.0.1:$timed_port/"

echo "loading each for $duration per round with $connections connections (server on CPU $server_cpu, wrk on CPU $wrk_cpu)..."
rounds=${ROUNDS:-3}
ratios=()
cpu_ratios=()
timed_ratios=()
timed_cpu_ratios=()
svc_all=()
hello_all=()
timed_all=()
for round in $(seq 1 "$rounds"); do
  read -r s s_cpu < <(load service "http://127.0.0.1:$svc_port/" "$svc_pid")
  read -r h h_cpu < <(load hello "http://127.0.0.1:$hello_port/" "$hello_pid")
  read -r t t_cpu < <(load timed "http://127.0.0.1:$timed_port/" "$timed_pid")
  r=$(python3 -c "print(round($s / $h, 3))")
  c=$(python3 -c "print(round($h_cpu / $s_cpu, 3))")
  tr=$(python3 -c "print(round($s / $t, 3))")
  tc=$(python3 -c "print(round($t_cpu / $s_cpu, 3))")
  echo "  round $round: service $s req/s ($s_cpu us CPU/req), hello $h req/s ($h_cpu us CPU/req), hello with timeouts $t req/s ($t_cpu us CPU/req); ratio $r, CPU ratio $c; to hello with timeouts $tr, CPU $tc"
  ratios+=("$r")
  cpu_ratios+=("$c")
  timed_ratios+=("$tr")
  timed_cpu_ratios+=("$tc")
  svc_all+=("$s")
  hello_all+=("$h")
  timed_all+=("$t")
done
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

limited=$(curl -fsS "http://127.0.0.1:$svc_port/metrics" | awk '/^http_rate_limited_total/ {print $2}')
shed=$(curl -fsS "http://127.0.0.1:$svc_port/metrics" | awk '/^http_load_shed_total/ {print $2}')
errors=$(grep -h "Non-2xx" "$work/service.wrk" || true)

svc_rps=$(median "${svc_all[@]}")
hello_rps=$(median "${hello_all[@]}")
timed_rps=$(median "${timed_all[@]}")
ratio=$(median "${ratios[@]}")
cpu_ratio=$(median "${cpu_ratios[@]}")
timed_ratio=$(median "${timed_ratios[@]}")
timed_cpu_ratio=$(median "${timed_cpu_ratios[@]}")
verdict=$(python3 -c "print('meets' if $ratio >= $target else 'misses')")
echo
printf '%-40s %12s req/s (median)\n' "generated service (all middleware)" "$svc_rps" "bare net/http hello" "$hello_rps" \
  "bare hello with the service's timeouts" "$timed_rps"
echo "ratio: $ratio, median of $rounds rounds ($verdict the >= $target target)"
echo "CPU-per-request ratio (hello / service): $cpu_ratio, median of $rounds rounds"
echo "against hello with the same timeouts (the middleware chain alone): ratio $timed_ratio, CPU ratio $timed_cpu_ratio"
echo "service: rate limited $limited, load shed $shed ${errors:+, $errors}"
