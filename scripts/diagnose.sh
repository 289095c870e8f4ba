#!/usr/bin/env bash
# A short account of the test environment, printed by scripts/test.sh after a red `cargo test`
# so that the end of a CI log (often all that is kept of it) says whether the services, the
# cluster and its real node were there: a test's own message may be far above. At most about
# 30 lines; never fails.
STATE=${HALE_TEST_STATE:-/tmp/hale-test-env}
say() { printf 'diagnose: %s\n' "$*"; }

say "disk: $(df -h --output=avail,pcent / 2>/dev/null | tail -n 1 | xargs) free/used; memory: $(free -m 2>/dev/null | awk '/^Mem:/ {print $7 " MiB available"}'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -f "$STATE/test-env.stderr" ]; then
  grep -E 'cannot|error|did not|failed' "$STATE/test-env.stderr" | tail -n 5 | sed 's/^/diagnose: test-env said: /'
fi
for var in HALE_TEST_DOCKER_HOST HALE_TEST_OCI_REGISTRY HALE_TEST_PROMETHEUS HALE_TEST_KUBECONFIG HALE_TEST_KUBE_NODE; do
  grep -q "^export $var=" "$STATE/env" 2>/dev/null || say "$var is not in $STATE/env"
done
# shellcheck disable=SC1091
. "$STATE/env" 2>/dev/null || true
if [ -n "${HALE_TEST_KUBECTL:-}" ] && [ -n "${HALE_TEST_KUBECONFIG:-}" ]; then
  k() { timeout 10 "$HALE_TEST_KUBECTL" --kubeconfig "$HALE_TEST_KUBECONFIG" "$@" 2>/dev/null; }
  conditions=$(k get node hale-node -o jsonpath='{range .status.conditions[*]}{.type}={.status} {end}')
  say "hale-node conditions: ${conditions:-none (no such node, or the API server did not answer)}"
  k get node hale-node -o jsonpath='{.spec.taints}{"\n"}' | grep -v '^$' | sed 's/^/diagnose: hale-node taints: /'
  pods=$(k get pods -A --field-selector spec.nodeName=hale-node --no-headers)
  say "pods on hale-node: $(printf '%s' "$pods" | grep -c .) in $(printf '%s\n' "$pods" | awk 'NF {print $1}' | sort -u | grep -c .) namespaces; all namespaces: $(k get namespaces --no-headers | grep -c .)"
  printf '%s\n' "$pods" | awk 'NF && $4 != "Running" && $4 != "Completed"' | head -n 6 \
    | sed 's/^/diagnose: pod not running: /'
  k get events -A --field-selector type=Warning --sort-by=.lastTimestamp --no-headers \
    | tail -n 6 | cut -c1-220 | sed 's/^/diagnose: warning event: /'
fi
for part in kube-kubelet kube-containerd kube-proxy; do
  [ -f "$STATE/$part.log" ] || { say "no $part log"; continue; }
  pid=$(cat "$STATE/$part.pid" 2>/dev/null)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then state=running; else state="not running"; fi
  say "$part: $state; last error: $(grep -iE 'level=error|^E[0-9]{4}' "$STATE/$part.log" | tail -n 1 | cut -c1-200)"
done
exit 0
