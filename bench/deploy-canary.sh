#!/usr/bin/env bash
# Time from `hale deploy --canary` to promotion of a good build, with 3 steps (17 %, 34 %, 50 %)
# and a 10 s interval, against the sum of the intervals (30 s: the physical floor, since each
# step waits one interval before its check). Prints the ratio; goal ≤ 1.2.
#
# Real pods on the test cluster's real node (scripts/kube-env.sh, scripts/kube-node.sh), judged
# by a private Prometheus on a free loopback port that scrapes the namespace's pods by their IPs
# in 10.244.0.0/24 (Debian's Prometheus has no Kubernetes discovery, so a loop here writes the
# file_sd targets every second), while `hale load` drives the Service's root route.
#
#   bench/deploy-canary.sh                  # ROUNDS=3, release build
#   HALE=target/debug/hale ROUNDS=1 bench/deploy-canary.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
INTERVAL=10
STEPS=3
STATE=${HALE_TEST_STATE:-/tmp/hale-test-env}
[ -f "$STATE/env" ] || { echo "deploy-canary.sh: no $STATE/env: run scripts/test-env.sh first" >&2; exit 1; }
# shellcheck disable=SC1091
source "$STATE/env"
[ -n "${HALE_TEST_KUBE_NODE:-}" ] || { echo "deploy-canary.sh: no real node: run scripts/kube-env.sh" >&2; exit 1; }
command -v prometheus >/dev/null || { echo "deploy-canary.sh: prometheus is not installed" >&2; exit 1; }
if [ -z "${HALE:-}" ]; then
  cargo build --release --quiet
  HALE=target/release/hale
fi
HALE=$(realpath "$HALE")
KUBECTL=$HALE_TEST_KUBECTL
KCFG=(--kubeconfig "$HALE_TEST_KUBECONFIG" --context hale-test)
NS=hale-bench-canary-$$
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$KUBECTL" "${KCFG[@]}" delete namespace "$NS" --wait=false --ignore-not-found >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo '[]' >"$work/targets.json"
cat >"$work/prometheus.yml" <<PROM
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: pods
    file_sd_configs: [{files: ['$work/targets.json'], refresh_interval: 1s}]
    relabel_configs:
      - {source_labels: [__address__], regex: '10\.244\.0\.[0-9]+:[0-9]+', action: keep}
PROM
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$PORT" >"$work/prometheus.log" 2>&1 &
pids+=($!)
(
  while true; do
    "$KUBECTL" "${KCFG[@]}" -n "$NS" get pods -o json 2>/dev/null | python3 -c '
import json, sys
ns = sys.argv[1]
pods = json.load(sys.stdin).get("items", [])
out = [{"targets": [p["status"]["podIP"] + ":8080"],
        "labels": {"namespace": ns, "pod": p["metadata"]["name"]}}
       for p in pods
       if p.get("status", {}).get("phase") == "Running"
       and p["status"].get("podIP", "").startswith("10.244.0.")]
print(json.dumps(out))' "$NS" >"$work/targets.tmp" && mv "$work/targets.tmp" "$work/targets.json"
    sleep 1
  done
) &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/-/ready" >/dev/null 2>&1 && break; sleep 0.2; done

"$HALE" new orders --dir "$work/orders" --no-tidy -q
REPO=$HALE_TEST_OCI_REGISTRY/hale-bench-canary-$$/orders
for round in $(seq 0 "$ROUNDS"); do # every image pushed before any clock starts
  (cd "$work/orders" && echo "// round $round" >>cmd/orders/main.go \
    && "$HALE" build --engine native --push "$REPO:0.0.$round" -q --output json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["pushed"])' >"$work/image-$round")
done
deploy() { (cd "$work/orders" && "$HALE" deploy "${KCFG[@]}" -n "$NS" --timeout 240s "$@"); }
deploy --create-namespace --image "$(cat "$work/image-0")" -q >/dev/null
IP=$("$KUBECTL" "${KCFG[@]}" -n "$NS" get service orders -o jsonpath='{.spec.clusterIP}')
# kube-proxy programs the new Service's address a second or a few after the pods are ready:
# load before that fails to connect, and is not the canary's doing.
for _ in $(seq 1 120); do curl -fsS -o /dev/null --max-time 2 "http://$IP:8080/readyz" && break; sleep 0.5; done
# Runs of 2 s, each with new connections: kube-proxy picks a pod per connection, so one long run
# would stay on the pods it reached first and never reach the canary.
(
  n=0
  while [ ! -e "$work/load.stop" ]; do
    date +%s.%N >"$work/load-$n.at"
    "$HALE" load --url "http://$IP:8080/" -c 4 --duration 2s -q --output json >"$work/load-$n.json" 2>/dev/null || true
    n=$((n + 1))
  done
) &
LOAD=$!
pids+=("$LOAD")
floor=$((INTERVAL * STEPS))
ratios=()
for round in $(seq 1 "$ROUNDS"); do
  start=$(date +%s.%N)
  echo "$start" >"$work/round-$round.start"
  deploy --image "$(cat "$work/image-$round")" --canary --prometheus "http://127.0.0.1:$PORT" \
    --canary-step-weight 17 --canary-max-weight 50 --canary-interval ${INTERVAL}s \
    --canary-window ${INTERVAL}s -q --output json >"$work/canary-$round.json"
  end=$(date +%s.%N)
  took=$(python3 -c "print(f'{$end - $start:.1f}')")
  ratio=$(python3 -c "print(f'{($end - $start) / $floor:.2f}')")
  ratios+=("$ratio")
  echo "round $round: promoted in ${took}s, floor ${floor}s (${STEPS} steps x ${INTERVAL}s): ratio $ratio"
  # Where the time went: each check's time from the start, and the promotion after the last.
  python3 - "$work/canary-$round.json" "$start" <<'PY' || true
import json, sys
doc = json.load(open(sys.argv[1]))
c = doc["canary"]
t0 = float(sys.argv[2]) * 1000
checks = [(s["weight"], k["at_unix_ms"]) for s in c["steps"] for k in s["checks"]]
marks = ", ".join(f"{w}% checked at {(at - t0) / 1000:.1f}s" for w, at in checks)
print(f"   state written at {(c['started_unix_ms'] - t0) / 1000:.1f}s; {marks}; "
      f"promoted at {(c['updated_unix_ms'] - t0) / 1000:.1f}s "
      f"(promotion {(c['updated_unix_ms'] - checks[-1][1]) / 1000:.1f}s)")
for s in c["steps"]:
    for k in s["checks"]:
        if k["outcome"] != "pass":
            print(f"   {s['weight']}%: {k['outcome']}: " + json.dumps(k["gates"]))
PY
done
touch "$work/load.stop"; wait "$LOAD" 2>/dev/null || true
python3 - "$work" <<'PY' || true
import glob, json, sys
req = err = 0
kinds = {}
for f in glob.glob(sys.argv[1] + "/load-*.json"):
    try:
        d = json.load(open(f))
    except ValueError:
        continue
    req += d.get("requests", 0)
    err += d.get("errors", 0)
    for kind, n in (d.get("errors_by_kind") or {}).items():
        if n:
            kinds[kind] = kinds.get(kind, 0) + n
    if d.get("errors"):
        # When: seconds after the start of the round it fell in.
        at = float(open(f[:-len(".json")] + ".at").read())
        starts = sorted(float(open(r).read()) for r in glob.glob(sys.argv[1] + "/round-*.start"))
        before = [t for t in starts if t <= at]
        when = f"{at - before[-1]:.1f}s into round {len(before)}" if before else "before round 1"
        print(f"   {d['errors']} errors in the 2 s load run started {when}: "
              + str({k: v for k, v in d["errors_by_kind"].items() if v}))
print(f"load during the canaries: {req} requests, {err} errors" + (f" {kinds}" if kinds else ""))
PY
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "median ratio (time to promotion / sum of intervals): $median (goal <= 1.2)"
