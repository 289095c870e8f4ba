#!/usr/bin/env bash
# Tools the CI tests (tests/integration/ci.rs) check the generated pipelines with, built from their
# Go modules and cached by version under /var/cache/hale-test (HALE_TEST_CACHE); re-running is a
# no-op once they are there:
# - actionlint: the generated GitHub workflow must pass it;
# - golangci-lint: the generated .golangci.yml must pass on the generated code (the workflow's
#   lint job, run by the test that runs every step).
# - govulncheck: the generated pipelines' vulnerability step, run by the tests against a
#   vulnerability database folder they write (`-db file://...`), so no network is needed;
# - check-jsonschema (PyPI) in a venv under $HALE_TEST_STATE: it ships GitLab's CI schema
#   (`--builtin-schema vendor.gitlab-ci`), so the generated .gitlab-ci.yml is checked offline.
# Prints the environment lines the tests read; scripts/test-env.sh appends them to its env file.
set -euo pipefail

CACHE=${HALE_TEST_CACHE:-/var/cache/hale-test}
ACTIONLINT_VERSION=v1.7.12
# v2.15.0 is the newest whose go.mod asks for no more than the machine's Go 1.26.
GOLANGCI_LINT_VERSION=v2.15.0
GOVULNCHECK_VERSION=v1.10.0
CHECK_JSONSCHEMA_VERSION=0.39.0
STATE=${HALE_TEST_STATE:-/tmp/hale-test-env}
log() { printf 'test-env: ci: %s\n' "$*" >&2; }
command -v go >/dev/null || { log "go not found: cannot build actionlint, golangci-lint and govulncheck"; exit 1; }

build() { # build NAME MODULE/CMD VERSION → $CACHE/NAME-VERSION/NAME
  local name=$1 pkg=$2 version=$3 dir=$CACHE/$1-$3
  if [ ! -x "$dir/$name" ]; then
    log "building $name $version into $dir (from its Go module)"
    mkdir -p "$dir.tmp"
    if ! GOBIN=$dir.tmp GOTOOLCHAIN=local nice go install "$pkg@$version" >&2; then
      rm -rf "$dir.tmp"
      log "building $name $version failed"
      return 1
    fi
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  echo "$dir/$name"
}

actionlint=$(build actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION")
golangci_lint=$(build golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint "$GOLANGCI_LINT_VERSION")
govulncheck=$(build govulncheck golang.org/x/vuln/cmd/govulncheck "$GOVULNCHECK_VERSION")

venv=$STATE/check-jsonschema-$CHECK_JSONSCHEMA_VERSION
if [ ! -x "$venv/bin/check-jsonschema" ]; then
  log "installing check-jsonschema $CHECK_JSONSCHEMA_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  if ! "$venv/bin/pip" install -q --disable-pip-version-check \
      "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" >&2; then
    rm -rf "$venv"
    log "installing check-jsonschema failed"
    exit 1
  fi
fi

echo "export HALE_TEST_CHECK_JSONSCHEMA=$venv/bin/check-jsonschema"
echo "export HALE_TEST_ACTIONLINT=$actionlint"
echo "export HALE_TEST_GOLANGCI_LINT=$golangci_lint"
echo "export HALE_TEST_GOVULNCHECK=$govulncheck"
