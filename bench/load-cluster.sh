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
# The three take turns for $ROUNDS rounds (default 3); each ratio is taken inside a round and
# the median over the rounds is printed (the machine is shared and noisy).
# The node is this machine: the shards, the service and the local generator share its cores,
# so with the service answering as fast as it can, "scale" measures the service's ceiling (it
# is saturated before a second shard can add anything). The script therefore measures scale a
# second time with the service kept below saturation: the pods are redeployed with the
# template's fault switch adding $LATENCY to every request (FAULT_INJECTION, FAULT_LATENCY in
# [deploy.env]), so each connection is bound by that latency, not by the cores, and two shards
# with twice the connections must reach twice the rate if the shards start together, run the
# whole duration and are merged exactly. The namespace is deleted at the end. Traffic goes only
# to the test bridge's pod addresses.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-5}
CONNS=${CONNS:-8}
ROUNDS=${ROUNDS:-3}
LATENCY=${LATENCY:-20ms}
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
one_round() { # with-local | cluster-only: prints "local one two" (local 0 when not run)
    local l=0 a b
    if [[ $1 == with-local ]]; then
        l=$("$HALE" -q load --endpoints "$ENDPOINTS" -c "$CONNS" "${plan[@]}" | rps)
    fi
    a=$("$HALE" -q load "${cluster[@]}" --shards 1 -c "$CONNS" "${plan[@]}" | rps)
    b=$("$HALE" -q load "${cluster[@]}" --shards 2 -c $((2 * CONNS)) "${plan[@]}" | rps)
    echo "$l $a $b"
}
SATURATED=()
for r in $(seq 1 "$ROUNDS"); do
    SATURATED+=("$(one_round with-local)")
    echo "   round $r (as fast as the service answers): local, N=1, N=2 = ${SATURATED[-1]} req/s"
done

echo "== redeploying with FAULT_LATENCY=$LATENCY on every request (the service kept below saturation)"
printf '\n[deploy.env]\nFAULT_INJECTION = "true"\nFAULT_LATENCY = "%s"\n' "$LATENCY" >>hale.toml
"$HALE" deploy --kubeconfig "$HALE_TEST_KUBECONFIG" --context hale-test -n "$NS" --timeout 240s -q >/dev/null
BOUND=()
for r in $(seq 1 "$ROUNDS"); do
    BOUND+=("$(one_round cluster-only)")
    echo "   round $r (latency-bound): N=1, N=2 = $(cut -d' ' -f2- <<<"${BOUND[-1]}") req/s"
done

python3 - "$CONNS" "$LATENCY" "${SATURATED[@]}" -- "${BOUND[@]}" <<'EOF'
import statistics, sys
conns, latency = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
cut = args.index("--")
sat = [tuple(map(float, r.split())) for r in args[:cut]]
bound = [tuple(map(float, r.split())) for r in args[cut + 1:]]
med = statistics.median
print(f"as fast as the service answers, {conns} connections per shard (median of {len(sat)} rounds):")
print(f"  local         {med(r[0] for r in sat):10.1f} req/s")
print(f"  cluster N=1   {med(r[1] for r in sat):10.1f} req/s")
print(f"  cluster N=2   {med(r[2] for r in sat):10.1f} req/s")
print(f"  overhead  cluster N=1 / local      = {med(r[1] / r[0] for r in sat):.3f}  (goal >= 0.9)")
print(f"  scale     cluster N=2 / (2 x N=1)  = {med(r[2] / (2 * r[1]) for r in sat):.3f}  "
      "(the service is saturated here: not the goal's measure)")
print(f"every request delayed {latency} by the service (below saturation; median of {len(bound)} rounds):")
print(f"  cluster N=1   {med(r[1] for r in bound):10.1f} req/s")
print(f"  cluster N=2   {med(r[2] for r in bound):10.1f} req/s")
print(f"  scale     cluster N=2 / (2 x N=1)  = {med(r[2] / (2 * r[1]) for r in bound):.3f}  (goal >= 0.9)")
EOF
