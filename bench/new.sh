#!/usr/bin/env bash
# Time `hale new` (render + write, no `go mod tidy`) with hyperfine and compare the mean with
# the 50 ms target. A --dry-run (render only, nothing written) is timed too, to tell hale's own
# cost from the file system's: creating ~45 files and ~15 folders costs 4-60 ms on an ext4 disk
# depending on its load. TMPDIR=/dev/shm measures against tmpfs.
# Usage: bench/new.sh [runs]   (HALE=path/to/hale to pick a binary)
set -euo pipefail

target_ms=50
runs=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
hale=${HALE:-}
if [[ -z $hale ]]; then
  if [[ -x $root/target/release/hale ]]; then hale=$root/target/release/hale; else
    (cd "$root" && cargo build --quiet)
    hale=$root/target/debug/hale
  fi
fi
command -v hyperfine >/dev/null || { echo "bench/new.sh: hyperfine is not installed" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HALE_STATE_DIR=$work/state

hyperfine --warmup 3 --runs "$runs" --style basic \
  --prepare "rm -rf '$work/svc'" \
  --export-json "$work/new.json" \
  "'$hale' -q new bench-svc --no-tidy --dir '$work/svc'" \
  "'$hale' -q new bench-svc --dry-run --dir '$work/svc'"

mean_ms() { python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["mean"]*1000, 2))' "$work/new.json" "$1"; }
write_ms=$(mean_ms 0)
render_ms=$(mean_ms 1)
ratio=$(python3 -c "print(round($write_ms / $target_ms, 3))")
echo
echo "hale new (no tidy):   mean ${write_ms} ms with $hale"
echo "hale new --dry-run:   mean ${render_ms} ms (rendering only)"
echo "ratio to the ${target_ms} ms target: ${ratio} (<= 1 meets it)"
