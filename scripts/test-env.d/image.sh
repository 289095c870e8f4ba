#!/usr/bin/env bash
# Tools the image tests need, sourced by scripts/test-env.sh (STATE, log, die come from it):
# pyspdxtools (PyPI spdx-tools), the offline SPDX validator the SBOM test runs, and bcrypt, with
# which the auth test writes the htpasswd file of its second docker-registry, in one venv under
# $STATE. Cold: about a minute (pip download and install); warm: nothing.
# oras, built from its Go module and cached by version: the push test asks `oras discover` for the
# SBOM on the test registry, which has no Referrers API (so the fallback tag must be there).
SPDX_TOOLS_VERSION=0.8.5
BCRYPT_VERSION=5.0.0
SPDX_VENV=$STATE/image-tools-$SPDX_TOOLS_VERSION-$BCRYPT_VERSION
# Checked by running it, not by the script's presence: a venv whose interpreter is gone (seen
# after two provisionings raced on it) still has bin/pyspdxtools.
if ! "$SPDX_VENV/bin/python" -c 'import spdx_tools, bcrypt' 2>/dev/null \
  || [ ! -x "$SPDX_VENV/bin/pyspdxtools" ]; then
  log "installing spdx-tools $SPDX_TOOLS_VERSION into $SPDX_VENV"
  command -v python3 >/dev/null || die "python3 not found: the SBOM test needs it for spdx-tools"
  rm -rf "$SPDX_VENV"
  python3 -m venv "$SPDX_VENV" || die "python3 -m venv failed (install python3-venv)"
  "$SPDX_VENV/bin/pip" install -q "spdx-tools==$SPDX_TOOLS_VERSION" "bcrypt==$BCRYPT_VERSION" \
    || { rm -rf "$SPDX_VENV"; die "pip could not install spdx-tools and bcrypt"; }
fi
HALE_TEST_PYSPDXTOOLS=$SPDX_VENV/bin/pyspdxtools
HALE_TEST_IMAGE_PYTHON=$SPDX_VENV/bin/python

ORAS_VERSION=v1.3.6
ORAS_DIR=${HALE_TEST_CACHE:-/var/cache/hale-test}/oras-$ORAS_VERSION
if [ ! -x "$ORAS_DIR/oras" ]; then
  log "building oras $ORAS_VERSION into $ORAS_DIR (from its Go module)"
  command -v go >/dev/null || die "go not found: cannot build oras"
  mkdir -p "$ORAS_DIR.tmp"
  GOBIN=$ORAS_DIR.tmp GOTOOLCHAIN=local nice go install "oras.land/oras/cmd/oras@$ORAS_VERSION" >&2 \
    || { rm -rf "$ORAS_DIR.tmp"; die "building oras $ORAS_VERSION failed"; }
  rm -rf "$ORAS_DIR" && mv "$ORAS_DIR.tmp" "$ORAS_DIR"
fi
HALE_TEST_ORAS=$ORAS_DIR/oras
