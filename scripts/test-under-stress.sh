#!/usr/bin/env bash
# Issue 10's acceptance run: the whole scripts/test.sh N times in a row (default 3) while
# `stress-ng --cpu 2` runs beside it at normal priority. Prints one line per run (commit, result,
# wall time, load average) and exits non-zero if any run failed. Logs go to $HALE_STRESS_LOGS
# (default /tmp/hale-stress).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
logs="${HALE_STRESS_LOGS:-/tmp/hale-stress}"
mkdir -p "$logs"
command -v stress-ng >/dev/null || scripts/test-env.sh >/dev/null  # installs stress-ng
stress-ng --cpu 2 --quiet &
hog=$!
trap 'kill "$hog" 2>/dev/null || true' EXIT
commit="$(git rev-parse --short HEAD)"
failed=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  if scripts/test.sh >"$logs/run-$i.log" 2>&1; then result=passed; else result=FAILED; failed=1; fi
  end=$(date +%s)
  tests=$(grep -Eo '^test result: [a-z]+\. [0-9]+ passed' "$logs/run-$i.log" | awk '{s+=$4} END {print s+0}')
  echo "run $i: commit $commit, $result, $tests tests passed, $((end - start)) s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
exit "$failed"
