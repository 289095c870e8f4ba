#!/usr/bin/env bash
# The Gateway API pieces of the gateway canary test (tests/integration/traffic_gateway.rs), cached
# by version under /var/cache/hale-test (HALE_TEST_CACHE):
# - the Gateway API's standard-channel CRDs, copied from the sigs.k8s.io/gateway-api module's
#   config/crd/standard/ (no build; the test applies them);
# - Traefik, a Gateway API controller, built from its Go module. The test runs it on the host as
#   a process, its kubernetesGateway provider pointed at the test API server, its entrypoint on
#   127.0.0.1, routing to pod IPs on the node's bridge. Its go.mod has replace directives, so
#   `go install MODULE@VERSION` refuses it: it is built inside its downloaded module. Cold: 594 s
#   user + 113 s system CPU, 14 min 20 s of wall time under nice beside a cold run of
#   scripts/test.sh (docs/testing.md); warm nothing.
#
#   scripts/test-env.d/gateway.sh env      the CRDs (fetched if missing), then print the env lines
#   scripts/test-env.d/gateway.sh build    build Traefik if it is not cached (log on stderr)
#
# scripts/test-env.sh runs `build` in the background under nice (writing its log and, when it is
# done, its exit code beside the binary's folder) and `env` in the foreground: the test waits for
# the binary (HALE_TEST_TRAEFIK_BUILD_LOG says where the build's log is), so the build fills
# idle cores instead of adding to the critical path of a cold run.
set -euo pipefail

CACHE=${HALE_TEST_CACHE:-/var/cache/hale-test}
TRAEFIK_VERSION=v3.6.12
# The Gateway API version Traefik $TRAEFIK_VERSION's go.mod requires: the CRDs it understands.
GATEWAY_API_VERSION=v1.4.0
TRAEFIK_DIR=$CACHE/traefik-$TRAEFIK_VERSION
CRDS=$CACHE/gateway-api-$GATEWAY_API_VERSION/standard
log() { printf 'test-env: gateway: %s\n' "$*" >&2; }
command -v go >/dev/null || { log "go not found: cannot fetch the Gateway API CRDs or build Traefik"; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

module_dir() { # MODULE@VERSION → its folder in the module cache
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p'
}

fetch_crds() {
  [ -f "$CRDS/gateway.networking.k8s.io_httproutes.yaml" ] && return 0
  log "fetching the Gateway API $GATEWAY_API_VERSION standard CRDs from its Go module"
  local dir
  dir=$(module_dir "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")
  [ -d "$dir/config/crd/standard" ] || { log "no config/crd/standard in sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION"; exit 1; }
  rm -rf "$CRDS.tmp" && mkdir -p "$CRDS.tmp"
  cp "$dir"/config/crd/standard/gateway.networking.k8s.io_*.yaml "$CRDS.tmp/"
  chmod 644 "$CRDS.tmp"/*.yaml
  rm -rf "$CRDS" && mv "$CRDS.tmp" "$CRDS"
}

build_traefik() {
  [ -x "$TRAEFIK_DIR/traefik" ] && return 0
  log "building Traefik $TRAEFIK_VERSION from its Go module into $TRAEFIK_DIR"
  local started=$SECONDS src
  src=$(module_dir "github.com/traefik/traefik/v3@$TRAEFIK_VERSION")
  [ -f "$src/cmd/traefik/traefik.go" ] || { log "no cmd/traefik in github.com/traefik/traefik/v3@$TRAEFIK_VERSION"; exit 1; }
  mkdir -p "$TRAEFIK_DIR"
  # Its own go.mod and go.sum (with their replace directives) decide every dependency.
  (cd "$src" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" \
    -o "$TRAEFIK_DIR/traefik.tmp" ./cmd/traefik) || { rm -f "$TRAEFIK_DIR/traefik.tmp"; log "go build of Traefik $TRAEFIK_VERSION failed"; exit 1; }
  mv "$TRAEFIK_DIR/traefik.tmp" "$TRAEFIK_DIR/traefik"
  log "built Traefik $TRAEFIK_VERSION in $((SECONDS - started))s"
}

case ${1:-env} in
  build) build_traefik ;;
  env)
    fetch_crds
    echo "export HALE_TEST_GATEWAY_CRDS=$CRDS"
    echo "export HALE_TEST_TRAEFIK=$TRAEFIK_DIR/traefik"
    ;;
  *) log "usage: $0 [env|build]"; exit 2 ;;
esac
