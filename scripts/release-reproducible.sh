#!/usr/bin/env bash
# Check that a release build is reproducible: build this commit twice, from two clones in two
# different folders with two separate target folders, and compare every archive and SBOM byte
# for byte. Slow (two full release builds: about 20-40 minutes on 2 cores); not part of the test
# suite (docs/testing.md). Exits 1 on any difference, naming the files.
#   scripts/release-reproducible.sh [release.sh arguments, e.g. --target x86_64-unknown-linux-musl]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/hale-repro.XXXXXX")
trap 'rm -rf "$work"' EXIT
commit=$(git -C "$root" rev-parse HEAD)
[ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ] ||
  echo "release-reproducible.sh: note: uncommitted changes are not built; building $commit" >&2
for side in a b; do
  # Different depths of folder, so a path that leaks into the binary shows up as a difference.
  dir=$work/$side/checkout-$side
  [ $side = b ] && dir=$work/$side/deeper/checkout-$side
  git clone -q --no-hardlinks "$root" "$dir"
  git -C "$dir" checkout -q "$commit"
  echo "release-reproducible.sh: build $side in $dir" >&2
  (cd "$dir" && scripts/release.sh --out "$work/$side/dist" "$@")
done
status=0
for f in "$work"/a/dist/*; do
  name=$(basename "$f")
  if cmp -s "$f" "$work/b/dist/$name"; then
    echo "identical  $name  $(sha256sum "$f" | cut -c1-16)"
  else
    echo "DIFFERENT  $name"
    status=1
  fi
done
exit $status
