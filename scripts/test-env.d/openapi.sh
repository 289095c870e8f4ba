#!/usr/bin/env bash
# The OpenAPI validator the `hale new` tests check the generated service's /openapi.json with:
# PyPI's openapi-spec-validator in a venv, cached under $HALE_TEST_STATE by version (re-running
# is a no-op once it is there). Prints the environment line the tests read;
# scripts/test-env.sh appends it to its env file.
set -euo pipefail

STATE=${HALE_TEST_STATE:-/tmp/hale-test-env}
OPENAPI_SPEC_VALIDATOR_VERSION=0.9.0
log() { printf 'test-env: openapi: %s\n' "$*" >&2; }

venv=$STATE/openapi-spec-validator-$OPENAPI_SPEC_VALIDATOR_VERSION
if [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  log "installing openapi-spec-validator $OPENAPI_SPEC_VALIDATOR_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  if ! "$venv/bin/pip" install -q --disable-pip-version-check \
      "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION" >&2; then
    rm -rf "$venv"
    log "installing openapi-spec-validator failed"
    exit 1
  fi
fi

echo "export HALE_TEST_OPENAPI_SPEC_VALIDATOR=$venv/bin/openapi-spec-validator"
