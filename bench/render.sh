#!/usr/bin/env bash
# Render time of `hale deploy --render` for the full set (every optional object, two SLOs),
# against `kubectl kustomize` building the prod overlay of the same output, in the same run.
# Target: hale under 20 ms per render. Prints the median of RUNS runs of each and their ratio.
#
#   bench/render.sh                  # RUNS=20, release build
#   HALE=target/debug/hale bench/render.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
if [ -z "${HALE:-}" ]; then
  cargo build --release --quiet
  HALE=target/release/hale
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/orders"
cat >"$work/orders/hale.toml" <<'TOML'
name = "orders"
port = 8080
registry = "consul://consul.consul.svc:8500"
[image]
repository = "registry.local/orders"
tag = "0.1.0"
[deploy]
namespace = "shop"
replicas = 2
max_replicas = 6
network_policy = true
downstreams = ["payments"]
slo = ["availability=99.9,window=30d", "latency=p99<250ms"]
TOML

ms_now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
time_runs() { # command... → median milliseconds (3 decimals)
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(ms_now); "$@" >/dev/null; t1=$(ms_now)
    echo "$(( (t1 - t0) / 1000 ))"
  done | median | awk '{printf "%.3f", $1/1000}'
}

# One render to a folder, so kustomize has the same output to build.
"$HALE" deploy "$work/orders" --render --create-namespace --force >/dev/null
render() { "$HALE" deploy "$work/orders" --render --create-namespace --force --out "$work/out" -q; }
hale_ms=$(time_runs render)
files=$(find "$work/out" -type f ! -name .hale-render.json | wc -l)
echo "hale deploy --render ($files files): ${hale_ms} ms median of $RUNS (target < 20 ms)"

if command -v kubectl >/dev/null; then
  kubectl_ms=$(time_runs kubectl kustomize "$work/orders/deploy/overlays/prod")
  ratio=$(awk -v h="$hale_ms" -v k="$kubectl_ms" 'BEGIN {printf "%.2f", k / h}')
  echo "kubectl kustomize overlays/prod: ${kubectl_ms} ms median of $RUNS"
  echo "ratio: hale renders the full set ${ratio}x as fast as kubectl builds one overlay of it"
else
  echo "kubectl not found: no peer to compare with"
fi
