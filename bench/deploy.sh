#!/usr/bin/env bash
# Wall time of `hale deploy` (server-side apply + rollout wait) against `kubectl apply
# --server-side` followed by `kubectl rollout status`, on the same objects and the same control
# plane, with real pods on the real node (scripts/kube-env.sh, scripts/kube-node.sh: kubelet,
# containerd), in one run. The service is built and pushed to the test registry under one tag per
# round before any clock starts; each round deploys the next tag, so every round is a real
# rollout of running containers for both (hale's time includes
# rendering the objects; kubectl gets them rendered before its clock starts); the order of the two
# alternates per round, and the script prints the median of the per-round ratios hale/kubectl.
# Target: at most 0.8.
#
# It also measures how late hale reports a completed rollout: an independent watch
# (`kubectl get --watch`, each event stamped on arrival by a small Python reader) records when
# the Deployment became complete the way `kubectl rollout status` defines it (observedGeneration
# caught up, updated = spec, no old replicas, available = updated); the lag is the time from that
# event to hale's process exiting with its report written.
#
#   bench/deploy.sh                  # ROUNDS=7, release build
#   HALE=target/debug/hale bench/deploy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-7}
STATE=${HALE_TEST_STATE:-/tmp/hale-test-env}
[ -f "$STATE/env" ] || { echo "deploy.sh: no $STATE/env: run scripts/test-env.sh first" >&2; exit 1; }
# shellcheck disable=SC1091
source "$STATE/env"
[ -n "${HALE_TEST_KUBECONFIG:-}" ] || { echo "deploy.sh: no control plane: run scripts/kube-env.sh" >&2; exit 1; }
[ -n "${HALE_TEST_KUBE_NODE:-}" ] || { echo "deploy.sh: no real node: run scripts/kube-env.sh (see its log)" >&2; exit 1; }
if [ -z "${HALE:-}" ]; then
  cargo build --release --quiet
  HALE=target/release/hale
fi
HALE=$(realpath "$HALE")
NS_HALE=hale-bench-hale-$$
NS_KUBECTL=hale-bench-kubectl-$$
KUBECTL=$HALE_TEST_KUBECTL
KCFG=(--kubeconfig "$HALE_TEST_KUBECONFIG" --context hale-test)
work=$(mktemp -d)
cleanup() {
  for ns in "$NS_HALE" "$NS_KUBECTL"; do
    "$KUBECTL" "${KCFG[@]}" delete namespace "$ns" --wait=false --ignore-not-found >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
cat >"$work/stamp.py" <<'PY'
import sys, time
# One line per watch event: "<ns since epoch> <generation> <observed> <spec> <updated> <replicas> <available>"
for line in sys.stdin:
    sys.stdout.write(f"{time.time_ns()} {line.strip()}\n")
    sys.stdout.flush()
PY
"$HALE" new orders --dir "$work/orders" --no-tidy -q
for ns in "$NS_HALE" "$NS_KUBECTL"; do
  "$KUBECTL" "${KCFG[@]}" create namespace "$ns" >/dev/null
done
REPO=$HALE_TEST_OCI_REGISTRY/hale-bench-$$/orders
for round in $(seq 0 "$ROUNDS"); do # one tag per round, pushed before any clock starts
  (cd "$work/orders" && "$HALE" build --engine native --push "$REPO:0.0.$round" -q >/dev/null)
done

ms_now() { date +%s%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

run_hale() { # image
  (cd "$work/orders" && "$HALE" deploy "${KCFG[@]}" -n "$NS_HALE" --image "$1" -q >/dev/null)
}
watch_hale_deployment() { # file: stamped watch events of hale's Deployment, until killed
  "$KUBECTL" "${KCFG[@]}" -n "$NS_HALE" get deployment orders --watch --output jsonpath=\
'{.metadata.generation} {.status.observedGeneration} {.spec.replicas} {.status.updatedReplicas} {.status.replicas} {.status.availableReplicas}{"\n"}' \
    2>/dev/null | python3 -u "$work/stamp.py" >"$1"
}
# The lag in ms from the first complete event at or after $2 (ns) in file $1 to $3 (ns).
report_lag() {
  awk -v t0="$2" -v t1="$3" '$1 >= t0 && NF == 7 && $3 >= $2 && $5 == $4 && $6 == $4 && $7 == $4 {
      printf "%.1f", (t1 - $1) / 1e6; found = 1; exit }
    END { if (!found) printf "n/a" }' "$1"
}
render_for_kubectl() { # image: the same objects hale renders, written before the clock starts
  (cd "$work/orders" && "$HALE" deploy --render --out - -n "$NS_KUBECTL" --image "$1" -q) \
    | grep -v '^# Source' >"$work/objects.yaml"
}
run_kubectl() { # the rendered objects, applied and awaited by kubectl
  "$KUBECTL" "${KCFG[@]}" -n "$NS_KUBECTL" apply --server-side --field-manager kubectl-bench \
    -f "$work/objects.yaml" >/dev/null 2>&1 || true
  "$KUBECTL" "${KCFG[@]}" -n "$NS_KUBECTL" rollout status deployment/orders --timeout 5m >/dev/null
}
timed() { local t0 t1; t0=$(ms_now); "$@"; t1=$(ms_now); echo $(( (t1 - t0) / 1000000 )); }

# A first rollout of each, not measured: both start from a deployed service.
run_hale "$REPO:0.0.0"
render_for_kubectl "$REPO:0.0.0"
run_kubectl

ratios=()
hale_ms=()
kubectl_ms=()
lags=()
for round in $(seq "$ROUNDS"); do
  image="$REPO:0.0.$round"
  render_for_kubectl "$image"
  watch_hale_deployment "$work/events-$round" &
  watcher=$!
  sleep 1 # the watch is established (its first event is the current state)
  if (( round % 2 )); then
    t0=$(ms_now); h=$(timed run_hale "$image"); t1=$(ms_now); k=$(timed run_kubectl)
  else
    k=$(timed run_kubectl); t0=$(ms_now); h=$(timed run_hale "$image"); t1=$(ms_now)
  fi
  sleep 0.5 # late events reach the file
  kill "$watcher" 2>/dev/null || true
  pkill -f -- "$NS_HALE get deployment orders --watch" 2>/dev/null || true
  lag=$(report_lag "$work/events-$round" "$t0" "$t1")
  hale_ms+=("$h"); kubectl_ms+=("$k"); lags+=("$lag")
  ratios+=("$(awk -v h="$h" -v k="$k" 'BEGIN {printf "%.3f", h / k}')")
  printf 'round %d: hale %d ms, kubectl %d ms, complete -> hale exited %s ms\n' "$round" "$h" "$k" "$lag"
done
printf 'hale deploy (apply + wait):            median %s ms\n' "$(printf '%s\n' "${hale_ms[@]}" | median)"
printf 'kubectl apply --server-side + rollout: median %s ms\n' "$(printf '%s\n' "${kubectl_ms[@]}" | median)"
printf 'complete -> hale reported:            median %s ms\n' "$(printf '%s\n' "${lags[@]}" | grep -v n/a | median)"
printf 'ratio hale/kubectl (median of rounds): %s (target <= 0.8)\n' "$(printf '%s\n' "${ratios[@]}" | median)"
