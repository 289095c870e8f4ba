#!/usr/bin/env bash
# Rust tools the quality gates of scripts/test.sh run, built from the Rust package registry with
# `cargo install --locked` and cached by version under /var/cache/hale-test (HALE_TEST_CACHE):
# - cargo-deny: licences, bans and sources of hale's dependency graph (deny.toml). About 5
#   minutes cold on 2 idle cores (27 minutes beside four other builds), nothing warm.
# Prints the environment lines the test command reads; scripts/test-env.sh appends them to its env file.
set -euo pipefail

CACHE=${HALE_TEST_CACHE:-/var/cache/hale-test}
CARGO_DENY_VERSION=0.20.2
log() { printf 'test-env: rust: %s\n' "$*" >&2; }
command -v cargo >/dev/null || { log "cargo not found: cannot build cargo-deny"; exit 1; }

dir=$CACHE/cargo-deny-$CARGO_DENY_VERSION
if [ ! -x "$dir/bin/cargo-deny" ]; then
  log "building cargo-deny $CARGO_DENY_VERSION into $dir (cargo install)"
  rm -rf "$dir.tmp"
  if ! nice cargo install --quiet --locked cargo-deny --version "$CARGO_DENY_VERSION" --root "$dir.tmp" >&2; then
    rm -rf "$dir.tmp"
    log "building cargo-deny $CARGO_DENY_VERSION failed"
    exit 1
  fi
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
echo "export HALE_TEST_CARGO_DENY=$dir/bin/cargo-deny"
