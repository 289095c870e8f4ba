#!/usr/bin/env bash
# Tools the `hale deploy --render` tests check the output with, cached under $HALE_TEST_STATE by
# version (re-running is a no-op once they are there):
# - kubernetes-validate (PyPI) in a venv: offline, strict validation against the Kubernetes
#   schemas;
# - kustomize (Go module) built with `go install`: the overlays must build.
# Prints the environment lines the tests read; scripts/test-env.sh appends them to its env file.
set -euo pipefail

STATE=${HALE_TEST_STATE:-/tmp/hale-test-env}
KUBERNETES_VALIDATE_VERSION=1.37.0
# v5.8.3 needs Go 1.27; the machine's toolchain is 1.26.
KUSTOMIZE_VERSION=v5.8.2
log() { printf 'test-env: manifests: %s\n' "$*" >&2; }

venv=$STATE/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  if ! "$venv/bin/pip" install -q --disable-pip-version-check \
      "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2; then
    rm -rf "$venv"
    log "installing kubernetes-validate failed"
    exit 1
  fi
fi

kustomize_dir=$STATE/kustomize-$KUSTOMIZE_VERSION
if [ ! -x "$kustomize_dir/kustomize" ]; then
  command -v go >/dev/null || { log "go not found: cannot build kustomize"; exit 1; }
  log "building kustomize $KUSTOMIZE_VERSION into $kustomize_dir"
  mkdir -p "$kustomize_dir"
  GOBIN=$kustomize_dir go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
fi

echo "export HALE_TEST_KUBERNETES_VALIDATE=$venv/bin/kubernetes-validate"
echo "export HALE_TEST_KUSTOMIZE=$kustomize_dir/kustomize"
