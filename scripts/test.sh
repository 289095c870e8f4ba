#!/usr/bin/env bash
# The whole test suite, provisioning included: the command README.md documents and .ci/run calls.
#   1. scripts/test-env.sh installs and starts the real services (Docker Engine, etcd, Consul,
#      Prometheus + promtool, a container registry) bound to 127.0.0.1;
#   2. quality gates: cargo fmt --check, cargo clippy -D warnings (with the build of the tests,
#      beside provisioning), cargo deny (deny.toml);
#   3. every test, with HALE_TEST_REQUIRE_ALL=1 so a missing service fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "test.sh: cargo not found: install a Rust toolchain (rustup)" >&2; exit 1; }
command -v go >/dev/null || { echo "test.sh: go not found: the tests build generated Go services" >&2; exit 1; }

export CARGO_TERM_COLOR=never
# Every crate of Cargo.lock, for every platform: a build on Linux downloads only Linux's, but
# cargo deny (offline, below) reads the whole graph, so on a fresh machine it found Windows and
# wasm crates (web-time, anstyle-wincon) missing.
echo "== cargo fetch"
cargo fetch --locked --quiet
echo "== cargo fmt --check"
cargo fmt --all --check

# The Rust side needs no service: clippy and the build of every test run while provisioning
# does (on a fresh machine both take many minutes, much of provisioning's waiting on downloads
# and services starting). Their output is printed once both are done.
rust_log=$(mktemp)
( cargo clippy --locked --all-targets -- -D warnings && cargo build --locked --tests ) >"$rust_log" 2>&1 &
rust_pid=$!
trap 'kill "$rust_pid" 2>/dev/null || true; rm -f "$rust_log"' EXIT

# What provisioning says on stderr is kept too, for scripts/diagnose.sh after a red run.
env_stderr=${HALE_TEST_STATE:-/tmp/hale-test-env}/test-env.stderr
mkdir -p "$(dirname "$env_stderr")"
if [ "$(id -u)" = 0 ]; then
  scripts/test-env.sh 2> >(tee "$env_stderr" >&2) >/dev/null
elif command -v sudo >/dev/null; then
  sudo --preserve-env=HALE_TEST_STATE scripts/test-env.sh 2> >(tee "$env_stderr" >&2) >/dev/null
else
  echo "test.sh: provisioning needs root (or sudo) to install Debian packages" >&2
  exit 1
fi
# shellcheck disable=SC1091
source "${HALE_TEST_STATE:-/tmp/hale-test-env}/env"
export HALE_TEST_REQUIRE_ALL=1

echo "== cargo clippy, then the build of the tests (beside provisioning)"
rust_ok=0
wait "$rust_pid" || rust_ok=$?
cat "$rust_log"
[ "$rust_ok" = 0 ] || { echo "test.sh: cargo clippy or the build failed (above)" >&2; exit 1; }
echo "== cargo deny (licences, bans, sources: deny.toml)"
"$HALE_TEST_CARGO_DENY" --log-level error --offline check licenses bans sources
echo "== cargo test"
test_ok=0
cargo test --locked --no-fail-fast -- --test-threads "${HALE_TEST_THREADS:-2}" || test_ok=$?
if [ "$test_ok" != 0 ]; then
  echo "== the test environment after the red run"
  scripts/diagnose.sh
  exit "$test_ok"
fi
echo "== all green"
