#!/usr/bin/env bash
# Benchmark `hale load --on-cluster` (see docs/commands/load.md, "On the cluster").
#
# On the test cluster's real node (scripts/kube-node.sh; `source /tmp/hale-test-env/env` or
# the HALE_TEST_* variables of scripts/test-env.sh): a generated `orders` service is built,
# pushed and deployed with 2 pods in a namespace of its own, then loaded with the same plan
# (closed model, $CONNS connections, $DURATION s, GET /) three ways:
#   local        hale load --endpoints POD_IP:8080,... from this machine
#   cluster N=1  hale load orders --on-cluster --shards 1
#   cluster N=2  hale load orders --on-cluster --shards 2 (twice the connections: each shard
#                gets the plan of the one shard of N=1)
# and prints requests/s of each and the two ratios of issue #25:
#   overhead = cluster N=1 / local        (goal >= 0.9)
#   scale    = cluster N=2 / (2 x N=1)    (goal >= 0.9 until the service saturates)
# The node is this machine: the shards, the service and the local generator share its cores,
# so "scale" measures the service's ceiling as much as the shards'. The namespace is deleted at
# the end. Traffic goes only to the test bridge's pod addresses.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-5}
CONNS=${CONNS:-8}
HALE=${HALE:-}
if [[ -z $HALE ]]; then
    if [[ -x $ROOT/target/release/hale ]]; then HALE=$ROOT/target/release/hale; else HALE=$ROOT/target/debug/hale; fi
fi
for v in HALE_TEST_KUBECONFIG HALE_TEST_KUBECTL HALE_TEST_OCI_REGISTRY HALE_TEST_KUBE_NODE; do
    [[ -n ${!v:-} ]] || { echo "bench: $v is not set (source /tmp/hale-test-env/env)" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "bench: python3 reads the JSON reports" >&2; exit 2; }

NS=hale-bench-lc-$$
WORK=$(mktemp -d /tmp/hale-bench-lc.XXXXXX)
KC=("$HALE_TEST_KUBECTL" --kubeconfig "$HALE_TEST_KUBECONFIG" -n "$NS")
cleanup() {
    "$HALE_TEST_KUBECTL" --kubeconfig "$HALE_TEST_KUBECONFIG" delete namespace "$NS" --wait=false --ignore-not-found >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== hale: $HALE"
echo "== machine: $(nproc) cores, $(uname -r); node $HALE_TEST_KUBE_NODE is this machine"
cd "$WORK"
"$HALE" new orders --dir orders --no-tidy >/dev/null
cd orders
"$HALE" build --engine native --push "$HALE_TEST_OCI_REGISTRY/$NS/orders" >/dev/null
"$HALE" deploy --kubeconfig "$HALE_TEST_KUBECONFIG" --context hale-test -n "$NS" --create-namespace --timeout 240s >/dev/null
ENDPOINTS=$("${KC[@]}" get pods -l app.kubernetes.io/name=orders -o jsonpath='{range .items[*]}{.status.podIP}:8080,{end}')
ENDPOINTS=${ENDPOINTS%,}

rps() { python3 -c 'import json,sys; print(json.load(sys.stdin)["rps"])'; }
plan=(-d "${DURATION}s" --path / -s round-robin --output json)
cluster=(orders --on-cluster --shard-registry "$HALE_TEST_OCI_REGISTRY/hale-bench-shard"
         --kubeconfig "$HALE_TEST_KUBECONFIG" --context hale-test --namespace "$NS")

echo "== warming up (and pushing the shard image once)"
"$HALE" load "${cluster[@]}" --shards 1 -c 1 -d 1s --path / -q >/dev/null

# Scale: each of the N=2 shards gets what the one shard of N=1 got.
LOCAL=$("$HALE" -q load --endpoints "$ENDPOINTS" -c "$CONNS" "${plan[@]}" | rps)
ONE=$("$HALE" -q load "${cluster[@]}" --shards 1 -c "$CONNS" "${plan[@]}" | rps)
TWO=$("$HALE" -q load "${cluster[@]}" --shards 2 -c $((2 * CONNS)) "${plan[@]}" | rps)

python3 - "$LOCAL" "$ONE" "$TWO" <<'EOF'
import sys
local, one, two = map(float, sys.argv[1:])
print(f"local         {local:10.1f} req/s")
print(f"cluster N=1   {one:10.1f} req/s")
print(f"cluster N=2   {two:10.1f} req/s")
print(f"overhead  cluster N=1 / local      = {one / local:.3f}  (goal >= 0.9)")
print(f"scale     cluster N=2 / (2 x N=1)  = {two / (2 * one):.3f}  (goal >= 0.9 until the service saturates)")
EOF
