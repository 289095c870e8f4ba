#!/usr/bin/env bash
# The parser property tests (tests/integration/parsers.rs) for longer than the suite runs them:
# rounds of HALE_FUZZ_CASES cases per parser (default 5000), each round with fresh random seeds,
# until SECONDS (first argument, default 600) have passed. Stops at the first failure, which
# proptest prints with its minimal input. Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIMIT=${1:-600}
export HALE_FUZZ_CASES=${HALE_FUZZ_CASES:-5000}
cd "$ROOT"
nice cargo test --locked --test integration --no-run >/dev/null 2>&1 \
  || nice cargo test --locked --test integration --no-run
end=$((SECONDS + LIMIT))
round=0
while ((SECONDS < end)); do
  round=$((round + 1))
  echo "round $round: $HALE_FUZZ_CASES cases per parser ($((end - SECONDS)) s left)"
  nice cargo test --locked --test integration parsers:: -- --quiet
done
echo "fuzz: $round rounds, $((round * HALE_FUZZ_CASES)) cases per parser, no failure"
