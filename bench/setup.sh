#!/usr/bin/env bash
# Provision the peers the benchmarks compare against, built from crates.io with cargo and
# cached by version under /var/cache/hale-test (skipped when present). Prints the paths, one
# `NAME=PATH` a line, so a bench script can `eval "$(bench/setup.sh)"`. Arguments name the
# peers wanted (`bench/setup.sh ghz`); none means all of them.
#   oha  OHA_VERSION (default 1.16.0): cargo install --locked, compiles for a while once.
#   ghz  GHZ_VERSION (default v0.120.0): `go install` from its Go module (bench/grpc.sh).
set -euo pipefail

CACHE=${HALE_TEST_CACHE:-/var/cache/hale-test}
OHA_VERSION=${OHA_VERSION:-1.16.0}

wanted() { [[ $# -eq 0 ]] || [[ " $* " == *" $TOOL "* ]]; }

TOOL=oha
if wanted "$@"; then
oha_root=$CACHE/oha-$OHA_VERSION
if [[ ! -x $oha_root/bin/oha ]]; then
    mkdir -p "$CACHE"
    echo "bench/setup.sh: building oha $OHA_VERSION into $oha_root (once)" >&2
    # A private build folder, removed after: the cache keeps only the binary.
    build=$(mktemp -d /tmp/hale-oha-build.XXXXXX)
    trap 'rm -rf "$build"' EXIT
    CARGO_TARGET_DIR=$build nice -n 10 cargo install oha --locked --version "$OHA_VERSION" \
        --root "$oha_root.partial" --quiet >&2
    rm -rf "$oha_root"
    mv "$oha_root.partial" "$oha_root"
fi
echo "OHA=$oha_root/bin/oha"
fi

TOOL=ghz
GHZ_VERSION=${GHZ_VERSION:-v0.120.0}
if wanted "$@"; then
ghz_root=$CACHE/ghz-$GHZ_VERSION
if [[ ! -x $ghz_root/bin/ghz ]] && command -v go >/dev/null; then
    mkdir -p "$CACHE"
    echo "bench/setup.sh: building ghz $GHZ_VERSION into $ghz_root (once)" >&2
    rm -rf "$ghz_root.partial"
    GOBIN=$ghz_root.partial/bin nice -n 10 go install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION" >&2
    rm -rf "$ghz_root"
    mv "$ghz_root.partial" "$ghz_root"
fi
echo "GHZ=$ghz_root/bin/ghz"
fi
