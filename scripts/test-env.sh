#!/usr/bin/env bash
# Provision and start, bound to 127.0.0.1, every real service hale's test suite talks to:
# Docker Engine, etcd, Consul, Prometheus (+ promtool), a container registry, and the browser
# and load tools the tests and benchmarks drive. Run as root on a fresh Debian machine of this
# project's kind; re-running it is harmless (installed packages and running services are kept).
#
# Prints, last, the environment the tests read (HALE_TEST_*), also written to
# $HALE_TEST_STATE/env so that a later shell can `source` it.
set -euo pipefail

STATE=${HALE_TEST_STATE:-/tmp/hale-test-env}
mkdir -p "$STATE"
log() { printf 'test-env: %s\n' "$*" >&2; }
die() { printf 'test-env: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs Debian packages and starts daemons)"
command -v apt-get >/dev/null || die "apt-get not found: this script provisions a Debian machine"

# One provisioning at a time: two at once (a test run's and a developer's) race on the same
# venvs, caches and daemons (seen: one's `rm -rf` of a venv the other was filling). The lock is
# held by flock itself (-o), so the daemons started below do not inherit it.
if [ -z "${HALE_TEST_ENV_LOCKED:-}" ]; then
  lock=$STATE/.test-env.lock
  if ! flock -n "$lock" true; then
    log "waiting for another scripts/test-env.sh to finish (lock $lock)"
  fi
  HALE_TEST_ENV_LOCKED=1 exec flock -o "$lock" "$0" "$@"
fi

# Background jobs and daemons (running, start), each with its pid in $STATE/<name>.pid and its
# log in $STATE/<name>.log: the helpers kube-env.sh and kube-node.sh use too.
# shellcheck source=scripts/daemons.sh
source "$(dirname "$0")/daemons.sh"

# Traefik for the gateway canary tests (scripts/test-env.d/gateway.sh): about 12 CPU-minutes
# on a cold machine (docs/testing.md), so it builds in the background under nice, filling the
# cores the rest of provisioning and the test run leave idle; the tests that need it wait for it
# (tests/integration/traffic_gateway.rs). Started first, so that it also fills the time the
# package downloads below leave the cores idle. Cached by version: a warm run builds nothing.
start gateway-build nice -n 19 bash "$(dirname "$0")/test-env.d/gateway.sh" build

# --- Debian sources ---------------------------------------------------------------------------
# consul is packaged only in bullseye. Derive a bullseye entry from the machine's own Debian entry
# (same mirror, same key) with only the Suites line changed, and pin it low so nothing else comes
# from it.
add_bullseye() {
  local out=/etc/apt/sources.list.d/hale-bullseye.sources
  [ -f "$out" ] && return 0
  local src
  src=$(grep -l '^Suites:.*bookworm' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
  [ -n "$src" ] || die "no Debian bookworm entry under /etc/apt/sources.list.d/ to derive bullseye from"
  # First stanza whose suites are not the security suites: the main archive.
  awk 'BEGIN{RS=""; ORS="\n\n"} /Suites:/ && !/-security/ {print; exit}' "$src" \
    | grep -v '^#' | sed 's/^Suites:.*/Suites: bullseye/' >"$out.tmp"
  grep -q '^Suites: bullseye' "$out.tmp" || die "could not derive a bullseye entry from $src"
  mv "$out.tmp" "$out"
  cat >/etc/apt/preferences.d/hale-bullseye <<'PIN'
Package: *
Pin: release n=bullseye
Pin-Priority: 100
PIN
  APT_UPDATED=
}

APT_UPDATED=${APT_UPDATED:-}
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "$APT_UPDATED" ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

add_bullseye
export DEBIAN_FRONTEND=noninteractive
apt_install docker.io etcd-server etcd-client prometheus docker-registry busybox-static \
  chromium nginx-light wrk hyperfine jq curl procps iproute2 ca-certificates stress-ng
if ! command -v consul >/dev/null; then
  apt_install consul || true
  command -v consul >/dev/null || {
    log "consul: installing from bullseye"
    [ -n "$APT_UPDATED" ] || { apt-get update -qq >/dev/null; APT_UPDATED=1; }
    apt-get install -y -qq --no-install-recommends -t bullseye consul >/dev/null
  }
fi

# Debian's packages start their own daemons under systemd; there is none here, so each service
# is started by hand (start(), above), bound to loopback, with its data under $STATE. This
# wait_for replaces daemons.sh's: it also says when each service is healthy.
wait_for() { # name, seconds, then the probe command
  local name=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then
      tail -n 30 "$STATE/$name.log" >&2 || true
      die "$name did not become healthy within ${secs}s (log above: $STATE/$name.log)"
    fi
    sleep 0.5
  done
  log "$name healthy"
}

ETCD_PORT=${HALE_ETCD_PORT:-2379}
CONSUL_PORT=${HALE_CONSUL_PORT:-8500}
REGISTRY_PORT=${HALE_REGISTRY_PORT:-5000}
PROM_PORT=${HALE_PROM_PORT:-9090}

# Docker Engine. No bridge networking is needed (tests use --network host), and nothing may be
# pulled: images come from `docker import`.
mkdir -p "$STATE/docker"
start dockerd dockerd --host "unix://$STATE/docker.sock" --data-root "$STATE/docker" \
  --exec-root "$STATE/docker-exec" --pidfile "$STATE/docker/dockerd.pid" --bridge none --iptables=false \
  --ip6tables=false
wait_for dockerd 60 env DOCKER_HOST="unix://$STATE/docker.sock" docker version

# The builder image the generated Dockerfile needs (golang:<version> cannot be pulled): this
# machine's Go toolchain plus busybox for the shell RUN uses, with the module proxy off so a
# build that is not offline fails. The final stage uses `scratch` in the tests.
command -v go >/dev/null || die "go not found: the test suite needs a Go toolchain"
GO_ROOT=$(go env GOROOT)
GO_IMAGE=hale-test/go-builder:$(go env GOVERSION | sed 's/^go//')
if ! DOCKER_HOST="unix://$STATE/docker.sock" docker image inspect "$GO_IMAGE" >/dev/null 2>&1; then
  log "importing $GO_IMAGE (busybox + $GO_ROOT)"
  rootfs=$(mktemp -d "$STATE/builder-rootfs.XXXXXX")
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/root" "$rootfs/tmp"
  cp "$(command -v busybox)" "$rootfs/bin/busybox"
  for app in $("$rootfs/bin/busybox" --list); do
    [ -e "$rootfs/bin/$app" ] || ln -s busybox "$rootfs/bin/$app"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
  chmod 1777 "$rootfs/tmp"
  { tar -C "$rootfs" -cf - . ; } >"$STATE/builder.tar"
  tar -C "$(dirname "$GO_ROOT")" -rf "$STATE/builder.tar" \
    --transform "s,^$(basename "$GO_ROOT"),usr/local/go," "$(basename "$GO_ROOT")"
  DOCKER_HOST="unix://$STATE/docker.sock" docker import \
    --change 'ENV PATH=/usr/local/go/bin:/bin' --change 'ENV GOPATH=/go' \
    --change 'ENV GOPROXY=off' --change 'ENV GOTOOLCHAIN=local' --change 'ENV HOME=/root' \
    "$STATE/builder.tar" "$GO_IMAGE" >/dev/null
  rm -rf "$rootfs" "$STATE/builder.tar"
fi

# BuildKit builds: Debian's docker CLI needs the buildx plugin for them and Debian has no
# package of it, so it is built from its Go module (through the Go module proxy) into a docker
# CLI configuration folder of the test environment's own; the user's ~/.docker is not touched.
BUILDX_VERSION=v0.11.2
DOCKER_CONFIG_DIR=$STATE/docker-config
if [ ! -x "$DOCKER_CONFIG_DIR/cli-plugins/docker-buildx" ]; then
  log "building docker buildx $BUILDX_VERSION from its Go module"
  mkdir -p "$DOCKER_CONFIG_DIR/cli-plugins"
  GOBIN="$STATE/buildx-bin" go install "github.com/docker/buildx/cmd/buildx@$BUILDX_VERSION" \
    || die "could not build docker buildx (needs the Go module proxy)"
  mv "$STATE/buildx-bin/buildx" "$DOCKER_CONFIG_DIR/cli-plugins/docker-buildx"
fi

start etcd etcd --name hale-test --data-dir "$STATE/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-cluster "hale-test=http://127.0.0.1:$((ETCD_PORT + 1))"
wait_for etcd 60 env ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$ETCD_PORT" endpoint health

start consul consul agent -dev -bind 127.0.0.1 -client 127.0.0.1 -http-port "$CONSUL_PORT" \
  -dns-port -1 -grpc-port -1 -serf-lan-port 8311 -serf-wan-port 8312 -server-port 8310 \
  -data-dir "$STATE/consul"
consul_leader() { [ -n "$(curl -fsS "http://127.0.0.1:$CONSUL_PORT/v1/status/leader" | tr -d '"')" ]; }
wait_for consul 60 consul_leader

mkdir -p "$STATE/registry"
cat >"$STATE/registry.yml" <<REG
version: 0.1
storage:
  filesystem:
    rootdirectory: $STATE/registry
http:
  addr: 127.0.0.1:$REGISTRY_PORT
REG
start registry docker-registry serve "$STATE/registry.yml"
wait_for registry 60 curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/"

cat >"$STATE/prometheus.yml" <<PROM
global:
  scrape_interval: 15s
scrape_configs: []
PROM
start prometheus prometheus --config.file "$STATE/prometheus.yml" --storage.tsdb.path "$STATE/prometheus" \
  --web.listen-address "127.0.0.1:$PROM_PORT"
wait_for prometheus 60 curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready"
command -v promtool >/dev/null || die "promtool missing after installing prometheus"

source "$(dirname "$0")/test-env.d/image.sh"

cat >"$STATE/env" <<ENV
export HALE_TEST_DOCKER_HOST=unix://$STATE/docker.sock
export HALE_TEST_ETCD=127.0.0.1:$ETCD_PORT
export HALE_TEST_CONSUL=127.0.0.1:$CONSUL_PORT
export HALE_TEST_OCI_REGISTRY=127.0.0.1:$REGISTRY_PORT
export HALE_TEST_PROMETHEUS=127.0.0.1:$PROM_PORT
export HALE_TEST_STATE=$STATE
export HALE_TEST_GO_BUILDER_IMAGE=$GO_IMAGE
export HALE_TEST_DOCKER_CONFIG=$DOCKER_CONFIG_DIR
export HALE_TEST_PYSPDXTOOLS=$HALE_TEST_PYSPDXTOOLS
export HALE_TEST_IMAGE_PYTHON=$HALE_TEST_IMAGE_PYTHON
export HALE_TEST_ORAS=$HALE_TEST_ORAS
ENV
HALE_TEST_STATE=$STATE bash "$(dirname "$0")/test-env.d/manifests.sh" >>"$STATE/env"
HALE_TEST_STATE=$STATE bash "$(dirname "$0")/test-env.d/openapi.sh" >>"$STATE/env"
HALE_TEST_STATE=$STATE bash "$(dirname "$0")/test-env.d/ci.sh" >>"$STATE/env"
HALE_TEST_STATE=$STATE bash "$(dirname "$0")/test-env.d/rust.sh" >>"$STATE/env"
HALE_TEST_STATE=$STATE bash "$(dirname "$0")/test-env.d/grpc.sh" >>"$STATE/env"
HALE_TEST_STATE=$STATE bash "$(dirname "$0")/test-env.d/gateway.sh" env >>"$STATE/env"
HALE_TEST_STATE=$STATE "$(dirname "$0")/kube-env.sh" || die "the Kubernetes control plane did not start"
log "ready; environment in $STATE/env"
cat "$STATE/env"
